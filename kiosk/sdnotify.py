"""sd_notify(3) without libsystemd: READY=1, WATCHDOG=1, STATUS=…, STOPPING=1 to ``$NOTIFY_SOCKET``.

Every message is one AF_UNIX datagram of newline-separated ``KEY=value`` assignments.  A path
starting with ``@`` names an abstract socket.  With ``NOTIFY_SOCKET`` unset (a shell, CI, the
demo) every call is a silent no-op; a send that fails is logged, never raised: the kiosk must
not stop because its supervisor went away.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state changes to the service manager named by ``NOTIFY_SOCKET``."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        path = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path

    @property
    def enabled(self) -> bool:
        """True when a service manager listens."""
        return bool(self.address)

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments in one datagram; False when not sent."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(assignments).encode(), self.address)
        except OSError as exc:
            log.warning("sd_notify %s failed: %s", assignments[0].split("=", 1)[0] if assignments else "", exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Startup finished (READY=1), with an optional status line."""
        return self.notify("READY=1", *((status_line(status),) if status else ()))

    def watchdog(self) -> bool:
        """Keep-alive ping (WATCHDOG=1)."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """The one-line status ``systemctl status`` shows."""
        return self.notify(status_line(text))

    def stopping(self, status: str = "") -> bool:
        """Shutdown began (STOPPING=1)."""
        return self.notify("STOPPING=1", *((status_line(status),) if status else ()))


def status_line(text: str) -> str:
    """A STATUS= assignment; a newline would start a new assignment, so none survive."""
    return "STATUS=" + " ".join(text.split())


def watchdog_period(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """WatchdogSec in seconds from ``WATCHDOG_USEC`` (None when off or meant for another process)."""
    env = os.environ if env is None else env
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None
