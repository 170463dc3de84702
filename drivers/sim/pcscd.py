"""A private pcscd with vsmartcard vpcd readers, for tests and simulations (TESTING.md §1b).

pcscd 1.9.9 hard-codes its socket ``/run/pcscd/pcscd.comm``; to run one beside (or instead of)
the machine's, it starts in its own mount namespace with ``run_dir`` bind-mounted over
/run/pcscd (``unshare --mount``: needs root), and clients find it through
``PCSCLITE_CSOCK_NAME=<run_dir>/pcscd.comm``.  libpcsclite reads that variable once per
process, so a process keeps one ``run_dir`` for every daemon it starts: ``stop`` then ``start``
brings "the same" daemon back, with the same readers on the same ports (a reader re-plugged).

One reader.conf entry gives two readers (vpcd slots): ``<name> 00 00`` on PORT and
``<name> 00 01`` on PORT+1 (``slot_port``); vpcd listens on 0.0.0.0 (not configurable in vpcd
3.3) and the virtual cards connect to 127.0.0.1 only.  Only ONE entry works: with two, vpcd 3.3
keeps its per-slot state by slot number alone, so the second entry takes over the first one's
slots and the first reader never sees a card (found here: the first reader's port is accepted
but never polled).  Two slots are enough for a passport reader and a badge reader.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
_BIND = 'mkdir -p /run/pcscd && mount --bind "$0" /run/pcscd && exec "$@"'


def free_port_pair() -> int:
    """A port P with P and P+1 free (vpcd listens on both)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("0.0.0.0", 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two consecutive free TCP ports")


def missing_requirements() -> str | None:
    """Why a private pcscd cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "a private pcscd needs root (unshare --mount and a bind mount)"
    for tool in ("pcscd", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install pcscd util-linux)"
    if not os.path.exists(VPCD_DRIVER):
        return f"{VPCD_DRIVER} is missing (apt-get install vsmartcard-vpcd)"
    return None


class PrivatePcscd:
    """pcscd in the foreground with one vpcd entry: readers ``<name> 00 00`` and ``<name> 00 01``."""

    def __init__(self, name: str = "Kiosk Test Reader", *, run_dir: str | None = None) -> None:
        problem = missing_requirements()
        if problem:
            raise RuntimeError(problem)
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="kiosk-pcscd-")
        self.run_dir = run_dir or os.path.join(self.dir, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        self.socket = os.path.join(self.run_dir, "pcscd.comm")
        self.port = free_port_pair()
        self._conf = os.path.join(self.dir, "reader.conf.d")
        os.mkdir(self._conf)
        with open(os.path.join(self._conf, "vpcd"), "w", encoding="ascii") as conf:
            conf.write(f'FRIENDLYNAME "{name}"\nDEVICENAME /dev/null:{self.port}\n'
                       f"LIBPATH {VPCD_DRIVER}\nCHANNELID {self.port}\n")
        self.log_path = os.path.join(self.dir, "pcscd.log")
        self._proc: subprocess.Popen[bytes] | None = None

    def reader(self, slot: int) -> str:
        """The PC/SC name of slot 0 or 1."""
        return f"{self.name} 00 {slot:02d}"

    def slot_port(self, slot: int) -> int:
        """The TCP port a virtual card connects to, to be in slot 0 or 1."""
        if slot not in (0, 1):
            raise ValueError("vpcd has slots 0 and 1")
        return self.port + slot

    @property
    def env(self) -> dict[str, str]:
        """The environment a client process needs to reach this daemon."""
        return {"PCSCLITE_CSOCK_NAME": self.socket}

    @property
    def running(self) -> bool:
        """True while the daemon process lives."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> PrivatePcscd:
        """Start the daemon and wait for its socket; returns self."""
        if self.running:
            return self
        if os.path.exists(self.socket):
            os.unlink(self.socket)      # left by a daemon that was killed
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _BIND, self.run_dir,
               "pcscd", "--foreground", "--config", self._conf, "--info"]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pcscd did not start; see {self.log_path}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """SIGTERM the daemon and wait for it (its readers disappear for every client)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop the daemon and remove its folder."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of pcscd's own log, for failure messages."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return log.read()[-chars:]
        except OSError:
            return ""
