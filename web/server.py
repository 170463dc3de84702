"""Serving the app with waitress (a production WSGI server) in the kiosk process.

Each open server-sent-events stream holds one waitress thread, so the thread count is
sized for a handful of clients: the kiosk screen, the officer tablet, a technician.

Shutdown order matters: close the event bus first (open streams end), then let the
worker threads finish, then close the sockets on the server's own loop thread.

``run`` is also where the kiosk talks to systemd (kiosk.service: READY, WATCHDOG, STATUS,
STOPPING), because only it knows when the HTTP socket is served.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from kiosk.sdnotify import Notifier
from kiosk.service import DEVICE_WAIT_S, ServiceNotifications

from . import create_app

log = logging.getLogger(__name__)


def _make_server(app: Any, host: str, port: int, threads: int) -> Any:
    server: Any = create_server(app, host=host, port=port, threads=threads, channel_timeout=30,
                                clear_untrusted_proxy_headers=True)      # one host: a single-socket server
    _late_pulls_are_harmless(server.trigger)
    return server


def _late_pulls_are_harmless(trigger: Any) -> None:
    """A worker still finishing a response when the server closes wakes the loop through the trigger's
    pipe, which is already closed: waitress would write to a closed descriptor (EBADF in that worker
    thread, or a byte into whatever file has since reused the number). Nobody is left to wake, so a
    wake-up after close is dropped; one lock orders it against the close."""
    guard = threading.Lock()
    close, pull = trigger.close, trigger._physical_pull

    def guarded_close() -> None:
        with guard:
            close()

    def physical_pull() -> None:
        with guard:
            if not trigger._closed:
                pull()

    trigger.close = guarded_close
    trigger._physical_pull = physical_pull


def _close_sockets(server: Any) -> None:
    """Close every socket of ``server`` on its loop thread, so its ``run()`` returns."""
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))


class BackgroundServer:
    """A waitress server on its own thread (tests, and anything that must not block)."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> None:
        self._server = _make_server(app, host, port, threads)
        self.port = int(self._server.effective_port)
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self) -> BackgroundServer:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Let running requests finish (close the event bus first so streams end), then close."""
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        _close_sockets(self._server)
        self._thread.join(5)


def run(kiosk: Any, *, host: str, port: int, threads: int, sim: Any = None,
        notifier: Notifier | None = None, device_wait_s: float = DEVICE_WAIT_S) -> None:
    """Start the kiosk and serve it until SIGINT or SIGTERM; then stop everything cleanly.

    Under systemd (``NOTIFY_SOCKET`` set) READY=1 goes out once every device's first open
    attempt has ended (at most ``device_wait_s``) and the HTTP socket listens, right before
    the server loop starts; STOPPING=1 goes out first thing on the signal.
    """
    app = create_app(service=kiosk, sim=sim)
    server = _make_server(app, host, port, threads)     # bound and listening from here on
    service = ServiceNotifications(kiosk, notifier or Notifier())
    url = f"http://{host}:{server.effective_port}/"

    def terminate(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        service.stopping(signal.Signals(signum).name)
        kiosk.bus.close()           # open event streams end, so worker threads can finish
        raise SystemExit(0)         # waitress's run() catches it and shuts its workers down

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    try:
        service.attach()
        kiosk.start()
        still_opening = kiosk.wait_first_opens(device_wait_s)
        if still_opening:
            log.warning("devices still opening after %.0f s, starting without them: %s",
                        device_wait_s, ", ".join(still_opening))
        # The socket listens since _make_server, so a client connecting from now on is answered
        # as soon as run() starts the loop. (Not sent from a trigger thunk on the loop: waitress
        # runs thunks under a bare except, which would swallow SystemExit from a SIGTERM then.)
        service.ready(url)
        server.run()
    finally:
        kiosk.stop()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)   # no-op after run()'s own
        wasyncore.close_all(server._map)
