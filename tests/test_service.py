"""The kiosk as systemd runs it (issue 8): READY, WATCHDOG, STATUS, STOPPING and a clean SIGTERM.

systemd is not PID 1 on these machines, so each test plays the service manager itself: it binds an
AF_UNIX datagram socket, starts ``kiosk serve`` with NOTIFY_SOCKET and WATCHDOG_USEC pointing at it
(as systemd does for Type=notify, WatchdogSec=) and asserts on what arrives.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import DeviceGone
from drivers.relay.lcus_frames import switch_frame
from drivers.runner import Health, HealthState
from kiosk.config import load_config
from kiosk.demo_data import DEMO_CARDS, DEMO_GOODS
from kiosk.runtime import build_kiosk
from kiosk.sdnotify import Notifier, status_line, watchdog_period
from kiosk.service import ServiceNotifications, WatchdogFeed, describe_devices

from .service_support import (
    SECRET,
    NotifyListener,
    make_rig,
    start_service,
    stop_service,
    wait_until,
)
from .service_support import http as request

WATCHDOG_USEC = 1_000_000        # WatchdogSec=1 s: pings expected every 0.5 s (the loop ticks every 0.1 s)


@pytest.fixture
def listener() -> Iterator[NotifyListener]:
    """A fake service manager on an abstract AF_UNIX datagram socket."""
    lst = NotifyListener()
    yield lst
    lst.close()


def ready(note: Any) -> bool:
    """The note is READY=1."""
    return note.fields.get("READY") == "1"


# -- the process, end to end -----------------------------------------------------------------


def test_ready_comes_after_devices_and_http_then_status_and_watchdog_follow(
        tmp_path: Path, listener: NotifyListener) -> None:
    """GIVEN the scanner unplugged WHEN kiosk serve starts THEN READY=1 still comes, once the scanner's
    first open failed and HTTP answers; STATUS names each device; WATCHDOG=1 every ~0.5 s; plugging
    the scanner in updates STATUS; SIGTERM sends STOPPING=1 and exits 0."""
    rig = make_rig(tmp_path, plug=("idcard", "gate"))
    started = time.monotonic()
    proc = start_service(rig, listener, watchdog_usec=WATCHDOG_USEC)
    try:
        note = listener.wait_for(ready, "READY=1")
        state = request("GET", rig.base + "/api/v1/state", timeout=2)   # at once: no retry allowed
        assert state["service"] in ("ok", "degraded", "out_of_service")
        health = request("GET", rig.base + "/api/v1/health")
        assert health["idcard"]["state"] == health["gate"]["state"] == "connected"
        assert "idcard connected" in note.fields["STATUS"] and "gate connected" in note.fields["STATUS"]
        assert "scanner disconnected (" in note.fields["STATUS"]      # its first open has ended
        before = [n for n in listener.snapshot() if n.at < note.at and "STATUS" in n.fields]
        assert before and all(n.fields["STATUS"].startswith("starting: ") for n in before)
        assert note.at - started < 10

        time.sleep(3.0)
        pings = [t for t in listener.times("WATCHDOG") if t > note.at]
        gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
        assert 4 <= len(pings) <= 8, pings           # ~every 0.5 s: fed, and rate-limited (ticks would give 30)
        assert max(gaps) < WATCHDOG_USEC / 1e6, gaps  # never late enough for systemd to kill it

        rig.scanner.start()
        rig.started.append(rig.scanner)
        listener.wait_for(lambda n: "scanner connected" in n.fields.get("STATUS", ""), "STATUS with the scanner")
        sent_at = time.monotonic()
    finally:
        code, err = stop_service(proc)
        rig.stop()
    assert code == 0, err[-3000:]
    stopping = listener.wait_for(lambda n: n.fields.get("STOPPING") == "1", "STOPPING=1", timeout=1)
    assert stopping.at > sent_at
    assert "Traceback" not in err


def test_sigterm_during_a_gate_pulse_leaves_every_relay_off_and_sends_stopping(
        tmp_path: Path, listener: NotifyListener) -> None:
    """GIVEN a two-relay board and a resident passing the gate WHEN SIGTERM arrives mid-pulse
    THEN STOPPING=1 is sent, the pulse still ends, every relay is off and the exit code is 0."""
    rig = make_rig(tmp_path, channels=2, pulse_s=2.5)
    try:
        proc = start_service(rig, listener, watchdog_usec=WATCHDOG_USEC)
        try:
            listener.wait_for(ready, "READY=1")
            rig.idcard.place(next(c.card for c in DEMO_CARDS if c.key == "eligible"))
            wait_until(lambda: request("GET", rig.base + "/api/v1/state")["phase"] == "identified", "identified")
            rig.scanner.scan(DEMO_GOODS[0][0])
            wait_until(lambda: request("GET", rig.base + "/api/v1/state")["phase"] == "scanning", "scanning")
            request("POST", rig.base + "/api/v1/resident/confirm", {})
            wait_until(lambda: rig.gate.state(1), "the gate relay energised")
            term_at = time.monotonic()
        finally:
            code, err = stop_service(proc)
        # Checked before the simulators stop: unplugging the board would drop its relays by itself.
        # The last frames may still be in the pty when the process is gone: give the board a moment.
        last = switch_frame(1, False, True) + switch_frame(2, False, True)
        wait_until(lambda: rig.gate.received.endswith(last), "every relay driven off at close", timeout=2)
        assert rig.gate.plugged
        assert rig.gate.state(1) is False and rig.gate.state(2) is False
        (on, off), = rig.gate.on_periods(1)
        assert off is not None and off - on == pytest.approx(2.5, abs=0.3)   # the pulse ran to its end
    finally:
        rig.stop()
    assert code == 0, err[-3000:]
    assert listener.wait_for(lambda n: n.fields.get("STOPPING") == "1", "STOPPING=1", timeout=1).at >= term_at


def test_watchdog_stops_while_the_checkpoint_loop_is_stalled(tmp_path: Path, listener: NotifyListener) -> None:
    """GIVEN the service pinging WHEN its checkpoint loop blocks THEN no WATCHDOG=1 comes although
    HTTP still answers (a side timer would have kept pinging), and pings resume once it unblocks."""
    rig = make_rig(tmp_path)
    stall = tmp_path / "stall"
    proc = start_service(rig, listener, watchdog_usec=WATCHDOG_USEC, module="tests.stall_launcher",
                         extra_env={"KIOSK_TEST_STALL_FILE": str(stall)})
    try:
        note = listener.wait_for(ready, "READY=1")
        listener.wait_for(lambda n: n.fields.get("WATCHDOG") == "1", "a first ping", after=note.at)
        stall.touch()
        stalled_at = time.monotonic()
        time.sleep(2.0)                     # a fed watchdog would ping 3 times in the last 1.5 s
        request("GET", rig.base + "/api/v1/state", timeout=2)
        assert [t for t in listener.times("WATCHDOG") if t > stalled_at + 0.5] == []
        stall.unlink()
        resumed_at = time.monotonic()
        listener.wait_for(lambda n: n.fields.get("WATCHDOG") == "1", "pings after the stall", timeout=1,
                          after=resumed_at)
    finally:
        stall.unlink(missing_ok=True)
        code, err = stop_service(proc)
        rig.stop()
    assert code == 0, err[-3000:]


# -- start-up in process: the bounded wait for devices ---------------------------------------------


class _Device:
    """A device whose open hangs, fails or works, as a test says."""

    def __init__(self, name: str, mode: str) -> None:
        self.name, self.url, self.mode = name, f"test://{name}", mode
        self.release = threading.Event()

    def open(self) -> None:
        if self.mode == "hang":
            self.release.wait(10)
        if self.mode == "fail":
            raise DeviceGone("no such port", device=self.name, url=self.url)

    def close(self) -> None:
        self.release.set()

    def read(self, timeout: float) -> None:
        time.sleep(timeout)


class _Recorder(Notifier):
    """A notifier that keeps what it would send."""

    def __init__(self) -> None:
        super().__init__({"NOTIFY_SOCKET": "@recorder"})
        self.sent: list[tuple[str, ...]] = []

    def notify(self, *assignments: str) -> bool:
        self.sent.append(assignments)
        return True


def test_a_hung_device_open_delays_start_up_by_the_bound_only(tmp_path: Path, clock: Any) -> None:
    """GIVEN an ID reader whose open hangs WHEN the kiosk starts THEN the wait for first opens ends
    at its bound naming that reader, and the status line shows each device's own state."""
    rig_cfg = make_rig(tmp_path, plug=())
    cfg = load_config(rig_cfg.config, env={"KIOSK_SITE_SECRET": SECRET})
    devices = {"idcard": _Device("idcard", "hang"), "scanner": _Device("scanner", "fail"),
               "gate": _Device("gate", "ok")}
    kiosk = build_kiosk(cfg, clock, devices=devices)
    recorder = _Recorder()
    service = ServiceNotifications(kiosk, recorder, env={"WATCHDOG_USEC": "400000"})
    service.attach()
    kiosk.start()
    try:
        began = time.monotonic()
        assert kiosk.wait_first_opens(0.5) == ["idcard"]
        assert 0.45 < time.monotonic() - began < 1.5
        service.ready("http://test/")
        # The checkpoint thread appends WATCHDOG=1 to the same list every 0.2 s, in phase with the 0.5 s
        # bound: a main thread held up a moment after READY=1 finds a ping last. Pings aside, READY=1 is last.
        ready = ("READY=1", "STATUS=idcard connecting, scanner disconnected (no such port), gate connected")
        assert [sent for sent in recorder.sent if sent != ("WATCHDOG=1",)][-1] == ready
        after_ready = recorder.sent.index(ready) + 1
        wait_until(lambda: ("WATCHDOG=1",) in recorder.sent[after_ready:], "a watchdog ping from the loop's tick")
    finally:
        devices["idcard"].release.set()
        kiosk.stop()


# -- the parts -----------------------------------------------------------------------------------


def test_status_keeps_the_settled_state_through_reconnect_attempts(tmp_path: Path, clock: Any) -> None:
    """A device retrying (disconnected -> connecting -> disconnected) does not flood STATUS=."""
    cfg = load_config(make_rig(tmp_path, plug=()).config, env={"KIOSK_SITE_SECRET": SECRET})
    kiosk = build_kiosk(cfg, clock, devices={r: _Device(r, "ok") for r in ("idcard", "scanner", "gate")})
    recorder = _Recorder()
    service = ServiceNotifications(kiosk, recorder, env={})
    service.attach()
    gone = Health("scanner", HealthState.DISCONNECTED, "cable pulled")
    for health in [Health("scanner", HealthState.CONNECTING), gone, Health("scanner", HealthState.CONNECTING),
                   gone, Health("scanner", HealthState.CONNECTED)]:
        kiosk.health_changed("scanner", health)
    statuses = [a[0] for a in recorder.sent]
    assert statuses == ["STATUS=starting: idcard connecting, scanner connecting, gate connecting",
                        "STATUS=starting: idcard connecting, scanner disconnected (cable pulled), gate connecting",
                        "STATUS=starting: idcard connecting, scanner connected, gate connecting"]
    service.stopping("SIGTERM")
    kiosk.health_changed("scanner", gone)
    assert recorder.sent[-1] == ("STOPPING=1", "STATUS=stopping (SIGTERM): driving relays off, closing devices")
    kiosk.ledger.close()


def test_describe_devices_shortens_errors_and_names_devices_that_failed_to_load() -> None:
    """Long errors are cut with an ellipsis; a configured role without a device says so."""
    long = "x" * 200
    text = describe_devices(["idcard", "gate"], {"idcard": Health("idcard", HealthState.ERROR, long)})
    assert text == f"idcard error ({'x' * 59}…), gate not loaded (see log)"


def test_watchdog_feed_pings_at_most_every_half_period() -> None:
    """Ten ticks a second give one ping per half WatchdogSec, the first one at once."""
    recorder = _Recorder()
    now = [100.0]
    feed = WatchdogFeed(recorder, 0.4, monotonic=lambda: now[0])
    for _ in range(10):
        feed()
        now[0] += 0.1
    assert recorder.sent == [("WATCHDOG=1",)] * 5


def test_notifier_is_a_no_op_without_notify_socket() -> None:
    """No NOTIFY_SOCKET (a shell, CI, the demo): nothing is sent and nothing fails."""
    n = Notifier({})
    assert not n.enabled
    assert n.ready("x") is False and n.watchdog() is False and n.stopping() is False


@pytest.mark.parametrize("abstract", [False, True])
def test_notifier_sends_one_datagram_per_call(tmp_path: Path, abstract: bool) -> None:
    """Path and abstract (@name) sockets both receive the assignments, newline-separated."""
    address = f"@kiosk-unit-{os.getpid()}" if abstract else str(tmp_path / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + address[1:] if abstract else address)
        sock.settimeout(2)
        n = Notifier({"NOTIFY_SOCKET": address})
        assert n.ready("all\ngood")
        assert sock.recv(100) == b"READY=1\nSTATUS=all good"
        assert n.watchdog()
        assert sock.recv(100) == b"WATCHDOG=1"


def test_notifier_survives_a_vanished_service_manager(tmp_path: Path) -> None:
    """A socket that is gone makes notify return False instead of raising."""
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).status("x") is False


def test_status_line_is_one_line() -> None:
    """A newline would start a second assignment; whitespace runs collapse."""
    assert status_line("a\nREADY=1  b") == "STATUS=a READY=1 b"


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())}, 0.4),
    ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"}, None),       # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
])
def test_watchdog_period_follows_sd_watchdog_enabled(env: dict[str, str], expected: float | None) -> None:
    """WATCHDOG_USEC in seconds, only for this process (WATCHDOG_PID), None when off."""
    assert watchdog_period(env) == expected
