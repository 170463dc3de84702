"""Serving the app with waitress (a production WSGI server) in the kiosk process.

Each open server-sent-events stream holds one waitress thread, so the thread count is
sized for a handful of clients: the kiosk screen, the officer tablet, a technician.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from waitress.server import create_server

from . import create_app

log = logging.getLogger(__name__)


class BackgroundServer:
    """A waitress server on its own thread (tests, and anything that must not block)."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> None:
        self._server = create_server(app, host=host, port=port, threads=threads,
                                     channel_timeout=30, clear_untrusted_proxy_headers=True)
        self.port: int = self._server.effective_port  # type: ignore[union-attr]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self) -> "BackgroundServer":
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close the listening socket."""
        self._server.close()
        self._thread.join(5)


def run(kiosk: Any, *, host: str, port: int, threads: int, sim: Any = None) -> None:
    """Start the kiosk and serve it until SIGINT or SIGTERM; then stop everything cleanly."""
    app = create_app(service=kiosk, sim=sim)
    server = create_server(app, host=host, port=port, threads=threads, clear_untrusted_proxy_headers=True)

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    kiosk.start()
    log.info("kiosk serving on http://%s:%d/", host, server.effective_port)  # type: ignore[union-attr]
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        log.info("stopping")
    finally:
        kiosk.stop()
        server.close()
