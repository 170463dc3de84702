"""Benchmark: the service's start to READY=1 (target < 2 s) and its resident memory (target < 150 MB).

Figures, not a pass/fail test (``make bench``; ``BENCH_RUNS=N`` sets the number of starts).  Each
run starts the kiosk as systemd would, with NOTIFY_SOCKET pointing at a socket this process binds
(tests/service_support.py), and takes:

    ready      Popen -> READY=1 received: interpreter start, imports, config, data files, ledger
               open and migration, every device's first open, the HTTP socket served
    http       Popen -> the first answered GET /api/v1/state (polled every 10 ms)
    rss        VmRSS of the kiosk process after one resident passed (card, three scans, confirm,
               gate pulse) with every simulated device connected, and VmHWM (its peak)

Two forms: ``serve`` (production: the simulators run in this process, so the figure is the
kiosk's own) and ``demo`` (one process with the simulators and the /sim panel inside).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kiosk.demo_data import DEMO_CARDS, DEMO_GOODS
from tests.service_support import (
    ROOT,
    NotifyListener,
    free_port,
    http,
    make_rig,
    start_service,
    stop_service,
    vm_kib,
    wait_until,
)

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
READY_TARGET_S = 2.0
RSS_TARGET_MB = 150.0
OUTPUT = Path(os.environ.get("KIOSK_TEST_OUTPUT", ROOT / "test-output"))


def first_answer(base: str, proc: subprocess.Popen[str], timeout: float = 20.0) -> float:
    """The monotonic time of the first answered GET /api/v1/state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http("GET", base + "/api/v1/state", timeout=1)
            return time.monotonic()
        except OSError:
            assert proc.poll() is None, "the kiosk exited"
            time.sleep(0.01)
    raise AssertionError("no HTTP answer")


def one_resident(base: str, place: Any, scan: Any) -> None:
    """A card, three scans, confirm, and wait for the gate screen: the kiosk's whole path once."""
    place(next(c.card for c in DEMO_CARDS if c.key == "eligible"))
    wait_until(lambda: http("GET", base + "/api/v1/state")["phase"] == "identified", "identified")
    for code, _label in DEMO_GOODS[:3]:
        scan(code)
    wait_until(lambda: len(http("GET", base + "/api/v1/state").get("lines", [])) == 3, "three lines")
    http("POST", base + "/api/v1/resident/confirm", {})
    wait_until(lambda: http("GET", base + "/api/v1/state")["phase"] == "gate", "the gate screen")


def run_serve(folder: Path) -> dict[str, float]:
    """One start of ``kiosk serve`` on simulators in this process."""
    rig = make_rig(folder)
    listener = NotifyListener()
    try:
        started = time.monotonic()
        proc = start_service(rig, listener, watchdog_usec=30_000_000)
        try:
            answered = first_answer(rig.base, proc)
            ready = listener.wait_for(lambda n: n.fields.get("READY") == "1", "READY=1").at
            one_resident(rig.base, rig.idcard.place, rig.scanner.scan)
            rss, hwm = vm_kib(proc.pid), vm_kib(proc.pid, "VmHWM")
        finally:
            code, err = stop_service(proc)
        assert code == 0, err[-2000:]
    finally:
        listener.close()
        rig.stop()
    return {"ready_s": ready - started, "http_s": answered - started, "rss_mb": rss / 1024, "hwm_mb": hwm / 1024}


def run_demo(folder: Path) -> dict[str, float]:
    """One start of ``kiosk demo``: simulators and the /sim panel in the kiosk's own process."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    listener = NotifyListener()
    env = {**os.environ, "NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "30000000"}
    try:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "kiosk", "demo", "--port", str(port), "--data-dir",
                                 str(folder)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            answered = first_answer(base, proc)
            ready = listener.wait_for(lambda n: n.fields.get("READY") == "1", "READY=1").at
            one_resident(base, lambda _card: http("POST", base + "/sim/api/card", {"key": "eligible"}),
                         lambda code: http("POST", base + "/sim/api/scan", {"code": code}))
            rss, hwm = vm_kib(proc.pid), vm_kib(proc.pid, "VmHWM")
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err[-2000:]
    finally:
        listener.close()
    return {"ready_s": ready - started, "http_s": answered - started, "rss_mb": rss / 1024, "hwm_mb": hwm / 1024}


def summary(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """median, min and max of each figure."""
    return {key: {"median": statistics.median(r[key] for r in runs), "min": min(r[key] for r in runs),
                  "max": max(r[key] for r in runs)} for key in runs[0]}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor() or "unknown")
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    return {"cpu": cpu, "nproc": len(os.sched_getaffinity(0)), "mem_gib": round(int(mem) / 2**20, 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "python": sys.version.split()[0],
            "platform": platform.platform()}


def report(results: dict[str, dict[str, dict[str, float]]], host: dict[str, Any]) -> list[str]:
    """The printed lines."""
    lines = [f"kiosk service start and memory, {RUNS} starts each (median [min-max])",
             f"machine: {host['cpu']}, nproc={host['nproc']}, {host['mem_gib']} GiB, loadavg={host['loadavg']}, "
             f"python {host['python']}"]
    for form, stats in results.items():
        ready, http_s, rss, hwm = stats["ready_s"], stats["http_s"], stats["rss_mb"], stats["hwm_mb"]
        lines.append(f"{form:<6} start -> READY=1 {ready['median']:.2f} s [{ready['min']:.2f}-{ready['max']:.2f}] "
                     f"({'within' if ready['max'] < READY_TARGET_S else 'OVER'} {READY_TARGET_S:.0f} s); "
                     f"first HTTP answer {http_s['median']:.2f} s")
        lines.append(f"{'':<6} VmRSS {rss['median']:.1f} MB [{rss['min']:.1f}-{rss['max']:.1f}] "
                     f"({'within' if rss['max'] < RSS_TARGET_MB else 'OVER'} {RSS_TARGET_MB:.0f} MB); "
                     f"VmHWM {hwm['median']:.1f} MB")
    return lines


@pytest.mark.timeout(600)
def test_start_to_ready_and_resident_memory(tmp_path: Path, capsys: Any) -> None:
    """Measure and print; asserts only that every start reached READY=1 and stopped cleanly."""
    results = {"serve": summary([run_serve(tmp_path / f"serve-{i}") for i in range(RUNS)]),
               "demo": summary([run_demo(tmp_path / f"demo-{i}") for i in range(RUNS)])}
    host = machine()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "bench_service.json").write_text(json.dumps({"runs": RUNS, "machine": host, "results": results},
                                                          indent=2), encoding="utf-8")
    with capsys.disabled():
        print("\n" + "\n".join(report(results, host)))
