"""Helpers for running ``kiosk serve`` as systemd would: a fake NOTIFY_SOCKET and simulated devices.

Used by tests/test_service.py and benchmarks/bench_service.py (``wait_until`` also by tests/web/conftest.py
and benchmarks/bench_card_to_screen.py).  The listener is what systemd is to the service: an AF_UNIX
datagram socket (abstract, ``@name``) receiving ``KEY=value`` lines.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.sim.lcus import LcusSimulator
from drivers.sim.samv import SamvSimulator
from drivers.sim.scanner import ScannerSimulator
from kiosk.demo import CONFIG_TEMPLATE, DATA

ROOT = Path(__file__).resolve().parent.parent
SECRET = "service-test-secret-0123456789"
_names = itertools.count()


@dataclass(frozen=True)
class Note:
    """One datagram the service sent: when it arrived (monotonic) and its assignments."""

    at: float
    fields: dict[str, str]


class NotifyListener:
    """A fake service manager: collects every sd_notify datagram on an abstract socket."""

    def __init__(self) -> None:
        self.address = f"@kiosk-test-{os.getpid()}-{next(_names)}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind("\0" + self.address[1:])
        self._sock.settimeout(0.05)
        self.notes: list[Note] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            at = time.monotonic()
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self._cond:
                self.notes.append(Note(at, fields))
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Note], bool], what: str, timeout: float = 15.0,
                 after: float = float("-inf")) -> Note:
        """The first note (arrived after ``after``) matching ``predicate``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for note in self.notes:
                    if note.at > after and predicate(note):
                        return note
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout} s; got {self.snapshot()}")
                self._cond.wait(left)

    def snapshot(self) -> list[Note]:
        """A copy of every note so far."""
        with self._cond:
            return list(self.notes)

    def times(self, key: str, value: str = "1") -> list[float]:
        """Arrival times of the notes carrying ``key=value``."""
        return [n.at for n in self.snapshot() if n.fields.get(key) == value]

    def close(self) -> None:
        """Stop listening."""
        self._stop.set()
        self._thread.join(2)
        self._sock.close()


@dataclass
class Rig:
    """Simulated devices, a config file pointing at them, and the HTTP port."""

    idcard: SamvSimulator
    scanner: ScannerSimulator
    gate: LcusSimulator
    config: Path
    port: int
    links: Path
    started: list[Any] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Unplug every simulator that was started."""
        for sim in self.started:
            sim.stop()


def make_rig(folder: Path, *, plug: tuple[str, ...] = ("idcard", "scanner", "gate"), channels: int = 1,
             pulse_s: float = 0.5) -> Rig:
    """Start the simulators named in ``plug`` (links in ``folder/dev``) and write ``folder/kiosk.toml``."""
    links = folder / "dev"
    links.mkdir(parents=True)
    sims: dict[str, Any] = {"idcard": SamvSimulator("idcard", link_dir=str(links)),
                            "scanner": ScannerSimulator("scanner", link_dir=str(links)),
                            "gate": LcusSimulator("gate", channels=channels, link_dir=str(links))}
    started = [sims[role].start() for role in plug]
    port = free_port()
    text = CONFIG_TEMPLATE.format(
        ledger=folder / "ledger.db", residents=DATA / "residents.csv", catalog=DATA / "catalog.csv",
        idcard=links / "idcard", scanner=links / "scanner", gate=links / "gate", result_s=8, pulse_s=pulse_s)
    text += f"channels = {channels}\nmax_pulse_s = {max(3.0, pulse_s)}\n\n[web]\nport = {port}\n"
    config = folder / "kiosk.toml"
    config.write_text(text, encoding="utf-8")
    return Rig(sims["idcard"], sims["scanner"], sims["gate"], config, port, links, started)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(rig: Rig, listener: NotifyListener, *, watchdog_usec: int = 400_000,
                  module: str = "kiosk", extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m <module> serve --config …`` with NOTIFY_SOCKET and WATCHDOG_USEC as systemd sets them."""
    env = {**os.environ, "KIOSK_SITE_SECRET": SECRET, "NOTIFY_SOCKET": listener.address,
           "WATCHDOG_USEC": str(watchdog_usec), **(extra_env or {})}
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen([sys.executable, "-m", module, "serve", "--config", str(rig.config)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_service(proc: subprocess.Popen[str], timeout: float = 15.0) -> tuple[int, str]:
    """SIGTERM, wait, and return (exit code, stderr); kill and fail if it does not stop."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"the service did not stop within {timeout} s of SIGTERM:\n{err[-3000:]}") from None
    return proc.returncode, err


def http(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """One JSON request; the decoded answer."""
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def vm_kib(pid: int, field_name: str = "VmRSS") -> int:
    """A memory figure of ``pid`` from /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)
