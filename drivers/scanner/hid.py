"""HidScanner: a USB keyboard-wedge barcode scanner read through Linux evdev, grabbed exclusively.

URL grammar: the scanner's evdev node, best by its stable name, or a glob that matches every
node of one scanner (some present two, and only one of them carries the keys: PROTOCOLS.md §3.4):

    /dev/input/by-id/usb-Honeywell_Imaging___Mobility_1900-event-kbd
    /dev/input/by-id/usb-Honeywell_Imaging*-event-*

Every matching node is opened and read; on a replug the glob is matched again, so renumbered
``eventN`` nodes are found.  With ``grab`` (the default) each node is grabbed (EVIOCGRAB) so no
keystroke reaches the kiosk browser or a console.  Options (``OPTIONS``): ``suffix`` (enter |
tab | enter_or_tab: which keys end a code; Enter includes keypad Enter), ``aim_prefix`` and
``gs_substitute`` as for the serial scanner (``drivers.scanner.aim``), ``grab``.

Key codes become text through the pure US map in ``keymap``; a code with keys that map to no
character is refused (ProtocolError) rather than guessed.  A node that vanishes (``ENODEV``) is
an unplugged scanner: DeviceGone, and the runner reopens it.  The device objects are injected
(``open_node``), so tests drive the production code with python-evdev's own reader on a pipe.
"""

from __future__ import annotations

import collections
import errno
import glob
import logging
import os
import select
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from ..base import ScanRead
from ..errors import DeviceGone, OptionError, ProtocolError
from ..options import Option
from .aim import SUBSTITUTES, check_substitute, to_scan
from .keymap import SUFFIXES, KeyDecoder, KeyLine

log = logging.getLogger(__name__)


class InputEvent(Protocol):
    """What the driver reads of evdev.InputEvent."""

    type: int
    code: int
    value: int


class InputNode(Protocol):
    """The part of evdev.InputDevice the driver uses."""

    @property
    def path(self) -> str | bytes: ...

    def fileno(self) -> int: ...

    def read(self) -> Iterable[InputEvent]: ...

    def grab(self) -> None: ...

    def ungrab(self) -> None: ...

    def close(self) -> None: ...


def open_evdev(path: str) -> InputNode:
    """Open a real /dev/input/event* node with python-evdev."""
    try:
        import evdev
    except ImportError as exc:  # pragma: no cover - only kiosks with a wedge scanner need it
        raise DeviceGone("python-evdev is not installed: pip install 'checkpoint-kiosk[hid]'") from exc
    node: InputNode = evdev.InputDevice(path)
    return node


def find_nodes(url: str) -> list[str]:
    """The nodes ``url`` names now: the glob's matches, or the path itself if it exists."""
    return sorted(glob.glob(url)) if glob.has_magic(url) else [url] if os.path.exists(url) else []


class HidScanner:
    """A keyboard-wedge scanner on one or more evdev nodes (Device protocol, returns ScanRead)."""

    OPTIONS: dict[str, Option] = {
        "suffix": Option(str, "enter", "key that ends each code", choices=tuple(SUFFIXES)),
        "aim_prefix": Option(bool, False, "the scanner types the AIM ]cm symbology identifier first"),
        "gs_substitute": Option(str, "", "character the scanner types in place of GS (0x1D); '' = none",
                                choices=SUBSTITUTES),
        "grab": Option(bool, True, "grab the nodes so keystrokes reach no other program"),
    }

    def __init__(self, name: str, url: str, *, suffix: str = "enter", aim_prefix: bool = False,
                 gs_substitute: str = "", grab: bool = True,
                 open_node: Callable[[str], InputNode] = open_evdev,
                 list_nodes: Callable[[str], list[str]] = find_nodes) -> None:
        self.name = name
        self.url = url
        self.suffix = suffix
        self.aim_prefix = aim_prefix
        self.gs_substitute = gs_substitute
        self.grab = grab
        problem = check_substitute(gs_substitute) or (None if suffix in SUFFIXES else f"suffix {suffix!r}: unknown")
        if problem:
            raise OptionError(problem, device=name, url=url)
        self._open_node = open_node      # seams for tests, never set from config
        self._list_nodes = list_nodes
        self._nodes: dict[int, tuple[InputNode, KeyDecoder]] = {}
        self._pending: collections.deque[ScanRead | ProtocolError] = collections.deque()

    def open(self) -> None:
        """Open and grab every node the URL names; DeviceGone if there is none or one refuses."""
        self.close()
        paths = self._list_nodes(self.url)
        if not paths:
            raise DeviceGone(f"no input device matches {self.url}", device=self.name, url=self.url)
        try:
            for path in paths:
                node = self._open_node(path)
                self._nodes[node.fileno()] = (node, KeyDecoder(self.suffix))
                if self.grab:
                    node.grab()
        except OSError as exc:
            self.close()
            why = "is grabbed by another program" if exc.errno == errno.EBUSY else f"cannot be opened: {exc}"
            raise DeviceGone(f"input device {why}", device=self.name, url=self.url, code=exc.errno) from exc
        log.info("hid scanner %s open nodes=%s grab=%s", self.name, ",".join(paths), self.grab)

    def close(self) -> None:
        """Ungrab and close every node; never raises."""
        nodes, self._nodes = self._nodes, {}
        self._pending.clear()
        for node, _decoder in nodes.values():
            for release in ((node.ungrab, node.close) if self.grab else (node.close,)):
                try:
                    release()
                except OSError:   # an unplugged node cannot be ungrabbed; it is gone either way
                    log.debug("hid scanner %s: error releasing %r ignored", self.name, node.path, exc_info=True)

    def read(self, timeout: float) -> ScanRead | None:
        """Wait up to ``timeout`` s for one code; extra codes of a burst wait for the next calls."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self._pending:
                item = self._pending.popleft()
                if isinstance(item, ProtocolError):
                    raise item
                return item
            if not self._nodes:
                raise DeviceGone("hid scanner is not open", device=self.name, url=self.url)
            remaining = deadline - time.monotonic()
            if remaining < 0:
                return None
            ready, _, _ = select.select(list(self._nodes), [], [], remaining)
            for fd in ready:
                self._drain(*self._nodes[fd])
            if not ready:
                return None

    def _drain(self, node: InputNode, decoder: KeyDecoder) -> None:
        """Read every event waiting on ``node`` (evdev returns at most 64 per read) into codes."""
        while True:
            try:
                events = list(node.read())
            except BlockingIOError:
                return
            except OSError as exc:
                raise DeviceGone(f"input device {node.path!r} lost: {exc}", device=self.name, url=self.url,
                                 code=exc.errno) from exc
            for event in events:
                line = decoder.feed(event.type, event.code, event.value)
                if line is not None:
                    self._pending.append(self._scan(line))

    def _scan(self, line: KeyLine) -> ScanRead | ProtocolError:
        if line.unmapped:
            return ProtocolError(f"keys {list(line.unmapped)} have no US-layout character (is the scanner "
                                 f"set to a USA keyboard?)", device=self.name, url=self.url)
        try:
            scan = to_scan(line.text, aim_prefix=self.aim_prefix, gs_substitute=self.gs_substitute)
        except ProtocolError as exc:
            exc.device, exc.url = self.name, self.url
            return exc
        return scan if scan is not None else ProtocolError("empty code", device=self.name, url=self.url)
