"""PtySimulator: the far end of a real pty, with a stable link that can be unplugged.

A simulator subclass implements ``handle(data)`` (bytes the driver wrote) and answers
with ``send``.  ``port`` is a symlink such as ``/tmp/kiosk-sim-x/idcard`` pointing at
the current ``/dev/pts/N``, the way udev points ``/dev/kiosk/idcard`` at ``ttyUSB0``:

- ``unplug()`` closes the master side (the driver's next read fails the way a pulled
  USB-serial adapter does) and removes the link;
- ``plug()`` makes a new pty and points the link at it again.

Everything the driver wrote is kept in ``received`` so tests can assert exact bytes.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import tempfile
import threading
import time
import tty

log = logging.getLogger(__name__)


class PtySimulator:
    """Base class: owns the pty, the link and the thread; subclasses speak the protocol."""

    def __init__(self, name: str, *, link_dir: str | None = None) -> None:
        self.name = name
        self._own_dir = link_dir is None
        self._dir = link_dir or tempfile.mkdtemp(prefix="kiosk-sim-")
        self.port = os.path.join(self._dir, name)
        self.received = bytearray()
        self._lock = threading.RLock()
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> PtySimulator:
        """Plug the device in and start answering; returns self."""
        self.plug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, unplug, and remove the link folder if this simulator made it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.unplug()
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> PtySimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def plugged(self) -> bool:
        """True while the device is plugged in."""
        return self._master is not None

    def plug(self) -> None:
        """Create a fresh pty and point the stable link at it."""
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)
            tty.setraw(master)
            tmp = self.port + ".new"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.port)
            self._master, self._slave = master, slave
            self.on_plug()

    def unplug(self) -> None:
        """Pull the cable: close the pty and remove the link."""
        with self._lock:
            if self._master is None:
                return
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
            if os.path.lexists(self.port):
                os.unlink(self.port)

    # -- to and from the driver -------------------------------------------------------

    def send(self, data: bytes, *, chunk: int = 0, gap_s: float = 0.0) -> None:
        """Write ``data`` to the driver, optionally in ``chunk``-byte pieces ``gap_s`` apart."""
        pieces = [data] if chunk <= 0 else [data[i:i + chunk] for i in range(0, len(data), chunk)]
        for i, piece in enumerate(pieces):
            if i and gap_s:
                time.sleep(gap_s)
            with self._lock:
                if self._master is None:
                    return
                os.write(self._master, piece)

    def handle(self, data: bytes) -> None:
        """Called on the simulator thread with bytes the driver wrote; override."""

    def on_plug(self) -> None:
        """Called after each plug(); override to reset per-connection state."""

    # -- thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master is None:
                self._stop.wait(0.02)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except (OSError, ValueError):
                # EIO while no one holds the slave open, or the fd was closed by unplug()
                self._stop.wait(0.01)
                continue
            if not data:
                continue
            with self._lock:
                self.received += data
            try:
                self.handle(data)
            except Exception:
                log.exception("simulator %s failed handling %r", self.name, data[:32])
