"""The ``kiosk`` command as a user runs it: a real process, real sockets, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kiosk(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=30, **kw)


def http(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read()) if resp.headers.get_content_type() == "application/json" else resp.read()


def test_check_config_reports_the_key_and_exits_2(tmp_path: Path) -> None:
    """A malformed config names the key on stderr and exits non-zero, without a traceback."""
    path = tmp_path / "kiosk.toml"
    path.write_text('[kiosk]\nid = 1\nsite = "baktu"\n', encoding="utf-8")
    result = kiosk("check-config", str(path), env={**os.environ, "KIOSK_SITE_SECRET": ""})
    assert result.returncode == 2
    assert "kiosk.id: expected str, got 1" in result.stderr
    assert "KIOSK_SITE_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_serves_the_flow_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`kiosk demo` serves / and /sim; a card from /sim identifies; SIGTERM ends it with exit 0."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "demo", "--port", str(port), "--data-dir",
                             str(tmp_path / "demo")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                state = http("GET", base + "/api/v1/state")
                if state["service"] == "ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "demo did not come up"
            time.sleep(0.1)
        assert b"resident.js" in http("GET", base + "/")
        assert b"Simulator panel" in http("GET", base + "/sim/")
        http("POST", base + "/sim/api/card", {"key": "eligible"})
        deadline = time.monotonic() + 5
        while http("GET", base + "/api/v1/state")["phase"] != "identified":
            assert time.monotonic() < deadline, "card not identified"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("demo did not stop within 15 s of SIGTERM")
    assert proc.returncode == 0, err
    assert "654201198503120046" not in err and "韩秀芸" not in err   # no personal data in the log
    assert (tmp_path / "demo" / "ledger.db").exists()


def test_serve_runs_configured_devices_without_the_sim_panel(tmp_path: Path) -> None:
    """`kiosk serve --config` on devices named in the file (here simulators' pty links):
    cards read, no /sim panel, relays driven off at start and left off after SIGTERM."""
    from drivers.sim.lcus import LcusSimulator
    from drivers.sim.samv import SamvSimulator
    from drivers.sim.scanner import ScannerSimulator
    from kiosk.demo import CONFIG_TEMPLATE, DATA
    from kiosk.demo_data import DEMO_CARDS

    sims = [SamvSimulator("idcard"), ScannerSimulator("scanner"), LcusSimulator("gate")]
    for s in sims:
        s.start()
    idcard, scanner, gate = sims
    port = free_port()
    config = tmp_path / "kiosk.toml"
    config.write_text(CONFIG_TEMPLATE.format(
        ledger=tmp_path / "ledger.db", residents=DATA / "residents.csv", catalog=DATA / "catalog.csv",
        idcard=idcard.port, scanner=scanner.port, gate=gate.port, result_s=8, pulse_s=0.5)
        + f"\n[web]\nport = {port}\n", encoding="utf-8")
    env = {**os.environ, "KIOSK_SITE_SECRET": "serve-test-secret-0123456789"}
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "serve", "--config", str(config)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if http("GET", base + "/api/v1/state")["service"] == "ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        assert bytes.fromhex("A0 01 00 A1") in bytes(gate.received)      # all relays off at start
        try:
            http("GET", base + "/sim/")
            raise AssertionError("/sim must not exist outside demo mode")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        idcard.place(next(c.card for c in DEMO_CARDS if c.key == "eligible"))
        deadline = time.monotonic() + 5
        while http("GET", base + "/api/v1/state")["phase"] != "identified":
            assert time.monotonic() < deadline, "card not identified"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("serve did not stop within 15 s of SIGTERM")
        for s in sims:
            s.stop()
    assert proc.returncode == 0, err
    assert gate.state(1) is False
    assert gate.received.endswith(bytes.fromhex("A0 01 00 A1"))          # close() de-energised last
