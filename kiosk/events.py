"""What flows into the checkpoint (readings, health, commands) and the bus that carries
what flows out of it (state snapshots, device health) to screens.

Inbound messages are frozen dataclasses put on the checkpoint's inbox; outbound
messages are ``Published`` records on the ``EventBus``: a topic and a JSON-ready payload
that never carries a raw identifier (no full ID number, no name in logs or topics other
than the resident's own screen state).
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from drivers.base import Reading
from drivers.runner import Health

# -- into the checkpoint -------------------------------------------------------------

@dataclass(frozen=True)
class DeviceReading:
    """A driver read something (a card, a scan, a finished gate pulse)."""

    role: str
    reading: Reading
    at: datetime


@dataclass(frozen=True)
class DeviceHealth:
    """A device changed health."""

    role: str
    health: Health


@dataclass(frozen=True)
class Confirm:
    """The resident pressed "declare and leave"."""


@dataclass(frozen=True)
class Cancel:
    """The resident pressed "cancel" (or the screen asked for a reset)."""


@dataclass(frozen=True)
class RemoveLine:
    """The resident removed one basket line (index in the basket)."""

    index: int


@dataclass(frozen=True)
class Touch:
    """The resident touched the screen: restart the inactivity timer."""


@dataclass(frozen=True)
class GateResult:
    """The gate runner finished (or failed) the pulse for a declaration."""

    declaration_id: str
    error: str | None = None


# Officer commands (kiosk.officer_commands handles them on the checkpoint thread). Each carries its own
# ``reply`` future: the console waits on it for the outcome (a record, or an OfficerError), not for a snapshot.

@dataclass(frozen=True)
class OfficerDecided:
    """An officer decided a referred declaration: ``approved`` | ``taxed`` | ``rejected``, with reason code and note."""

    declaration_id: str
    decision: str
    officer: str
    reason: str
    note: str = ""
    reply: Future[Any] = field(default_factory=Future, compare=False, repr=False)


@dataclass(frozen=True)
class ManualRelease:
    """An officer releases the gate by hand (one bounded pulse, no ledger), with reason code and note."""

    officer: str
    reason: str
    note: str = ""
    reply: Future[Any] = field(default_factory=Future, compare=False, repr=False)


@dataclass(frozen=True)
class OfficerVoid:
    """An officer voids a committed declaration of today (its quota returns), with reason code and note."""

    declaration_id: str
    officer: str
    reason: str
    note: str = ""
    reply: Future[Any] = field(default_factory=Future, compare=False, repr=False)


# -- out of the checkpoint --------------------------------------------------------------

@dataclass(frozen=True)
class Published:
    """One outbound event: sequence number, topic and JSON-ready payload."""

    seq: int
    topic: str
    payload: dict[str, Any]


@dataclass
class Subscription:
    """A bounded queue of published events for one client; drops the oldest when full."""

    topics: frozenset[str]
    maxlen: int = 64
    _items: collections.deque[Published] = field(init=False)
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False)
    closed: bool = field(default=False, init=False)
    dropped: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._items = collections.deque(maxlen=self.maxlen)

    def put(self, event: Published) -> None:
        """Queue ``event`` (oldest dropped when the client is slow); ignored once closed."""
        with self._cond:
            if self.closed:
                return
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(event)
            self._cond.notify_all()

    def get(self, timeout: float) -> Published | None:
        """Next event, or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if not self._items and not self.closed:
                self._cond.wait(timeout)
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        """Wake the reader and stop accepting events."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class EventBus:
    """Fan-out of published events to subscriptions, by topic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._seq = itertools.count(1)
        self._closed = False

    def publish(self, topic: str, payload: dict[str, Any]) -> Published:
        """Send ``payload`` under ``topic`` to every subscription that wants it."""
        with self._lock:
            event = Published(next(self._seq), topic, payload)
            subs = [s for s in self._subs if topic in s.topics]
        for sub in subs:
            sub.put(event)
        return event

    def subscribe(self, topics: Iterable[str], maxlen: int = 64) -> Subscription:
        """A new subscription to ``topics``; call ``unsubscribe`` when done."""
        sub = Subscription(frozenset(topics), maxlen)
        with self._lock:
            if self._closed:      # shutting down: a reconnecting screen gets a stream that ends at once
                sub.close()
            else:
                self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove and close ``sub``."""
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
        sub.close()

    def close(self) -> None:
        """Close every subscription (shutdown: SSE streams end)."""
        with self._lock:
            subs, self._subs = self._subs, []
            self._closed = True
        for sub in subs:
            sub.close()
