"""The technician commands' functions against the relay simulators over real ptys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from drivers.sim.lcus import LcusSimulator
from drivers.sim.modbus import ModbusRelaySimulator
from kiosk.slip import sign_slip, slip_key
from kiosk.techtools import gate_inputs, gate_pulse, verify_slip_payload


@pytest.fixture
def modbus_sim() -> Iterator[ModbusRelaySimulator]:
    """A four-relay Modbus board at unit 3."""
    simulator = ModbusRelaySimulator(unit=3, channels=4)
    simulator.start()
    yield simulator
    simulator.stop()


def test_gate_pulse_lcus() -> None:
    """kiosk gate pulse --driver lcus --channel 2 --ms 100: ch1+ch2 off, ch2 on, ch2 off, off at close."""
    sim = LcusSimulator(channels=2).start()
    try:
        assert isinstance(sim, LcusSimulator)
        result = gate_pulse("lcus", sim.port, channel=2, ms=100)
        assert result == {"driver": "lcus", "url": sim.port, "channel": 2, "unit": None, "ok": True, "seconds": 0.1}
        deadline = time.monotonic() + 2
        while len(sim.timeline) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(c, on) for _, c, on in sim.timeline][2:4] == [(2, True), (2, False)]
    finally:
        sim.stop()


def test_gate_pulse_modbus_uses_the_flash(modbus_sim: ModbusRelaySimulator) -> None:
    """kiosk gate pulse --driver modbus --unit 3 --channel 4 --ms 200: one flash of 2 units to 0x0203."""
    result = gate_pulse("modbus", modbus_sim.port, channel=4, ms=200, unit=3)
    assert result["ok"] and result["seconds"] == 0.2 and result["unit"] == 3
    flashes = [r for r in modbus_sim.requests if r.address >= 0x0200]
    assert [(r.address, r.value) for r in flashes] == [(0x0203, 2)]
    assert bytes.fromhex("03 05 02 03 00 02") in bytes(modbus_sim.received)


def test_gate_pulse_reports_driver_failures(modbus_sim: ModbusRelaySimulator) -> None:
    """A board that does not answer is an ok=False result naming the error, not a traceback."""
    result = gate_pulse("modbus", modbus_sim.port, unit=9, ms=100)
    assert result["ok"] is False and result["error"].startswith("NoReply: no reply from unit 9")


@pytest.mark.parametrize(("args", "message"), [
    (("relay9", "loop://"), "driver"),
    (("lcus", "loop://", 1, 500, 2), "--unit"),
    (("lcus", "loop://", 1, 20), "--ms 20"),
    (("lcus", "loop://", 9, 500), "channel"),
])
def test_gate_pulse_refuses_bad_arguments(args: tuple[object, ...], message: str) -> None:
    """Bad arguments are ValueErrors naming the argument."""
    with pytest.raises(ValueError, match=message):
        gate_pulse(*args)  # type: ignore[arg-type]


def test_gate_inputs_reads_without_switching(modbus_sim: ModbusRelaySimulator) -> None:
    """kiosk gate inputs: inputs and relays numbered from 1, and no write on the wire."""
    modbus_sim.set_input(2, True)
    modbus_sim.set_coil(0, True)
    result = gate_inputs(modbus_sim.port, unit=3, count=4)
    assert result["ok"]
    assert result["inputs"] == {"1": False, "2": True, "3": False, "4": False}
    assert result["relays"] == {"1": True, "2": False, "3": False, "4": False}
    assert all(r.function != 0x05 for r in modbus_sim.requests)
    assert gate_inputs("/dev/nonexistent-kiosk-port")["ok"] is False


def test_verify_slip_payload() -> None:
    """kiosk slip verify PAYLOAD: genuine with its declaration, or the reason."""
    key = slip_key(b"0123456789abcdef0123")
    payload = sign_slip("D42", "k" * 64, 500, datetime(2026, 11, 25, tzinfo=UTC), key)
    assert verify_slip_payload(payload, key)["declaration_id"] == "D42"
    assert verify_slip_payload(payload.replace("|500|", "|501|"), key)["reason"] == "slip_forged"
