"""Keyboard-wedge scanner stand-in: real ``struct input_event`` records through a pipe.

These machines have no uinput (TESTING.md §3), so no program can make a /dev/input/event* node.
The closest honest stand-in: a pipe carrying the exact 24-byte records the kernel delivers,
read by python-evdev's own C reader (``EventIO.read``, the base class of ``evdev.InputDevice``).
``WedgeSimulator`` hands ``HidScanner`` such nodes through its ``open_node``/``list_nodes`` seams
and types codes the way a US-layout scanner does: MSC_SCAN, key down, SYN, key up, SYN, with
Shift or Ctrl held around a key where needed, then the terminator.  Only the ioctls (grab, name,
capabilities) cannot be exercised; ``grab`` just records that it was asked.  A pipe at EOF reads
as nothing, where an unplugged node raises ENODEV, so ``PipeNode`` turns EOF into ENODEV.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import struct
import time
from collections.abc import Iterable, Iterator

from evdev.eventio import EventIO
from evdev.events import InputEvent

from ..scanner.keymap import (
    EV_KEY,
    EV_MSC,
    EV_SYN,
    KEY_ENTER,
    KEY_KPENTER,
    KEY_LEFTCTRL,
    KEY_LEFTSHIFT,
    KEY_TAB,
    keystrokes,
)

EVENT = struct.Struct("llHHi")   # struct input_event on 64-bit Linux: timeval, type, code, value
MSC_SCAN = 4
TERMINATOR_KEYS = {"enter": KEY_ENTER, "kpenter": KEY_KPENTER, "tab": KEY_TAB}
DEFAULT_PATHS = ("/dev/input/by-id/usb-Kiosk_Sim_Scanner-event-kbd",)


class PipeNode(EventIO):
    """Looks like evdev.InputDevice to the driver; its fd is a non-blocking pipe."""

    def __init__(self, path: str) -> None:
        self.fd, self._wfd = os.pipe()
        os.set_blocking(self.fd, False)   # evdev opens /dev/input/event* with O_NONBLOCK too
        self.path = path
        self.grabbed = False

    def read(self) -> Iterator[InputEvent]:
        """Every waiting event (at most 64); BlockingIOError when none; ENODEV once unplugged."""
        events = list(super().read())
        if not events:
            raise OSError(errno.ENODEV, "No such device")
        return iter(events)

    def grab(self) -> None:
        """Record the grab (a real node takes ioctl EVIOCGRAB, impossible on a pipe)."""
        self.grabbed = True

    def ungrab(self) -> None:
        """Record the release."""
        self.grabbed = False

    def close(self) -> None:
        """Close both ends."""
        for fd in (self.fd, self._wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd = self._wfd = -1

    def send(self, events: Iterable[tuple[int, int, int]]) -> bytes:
        """Write (type, code, value) events as kernel records; returns the bytes written."""
        now = time.time()
        data = b"".join(EVENT.pack(int(now), int(now % 1 * 1e6), t, c, v) for t, c, v in events)
        for start in range(0, len(data), EVENT.size * 32):   # whole records, each write below PIPE_BUF
            os.write(self._wfd, data[start:start + EVENT.size * 32])
        return data

    def unplug(self) -> None:
        """Close the writing end: the reader sees EOF, reported as ENODEV."""
        if self._wfd >= 0:
            os.close(self._wfd)
            self._wfd = -1


def key_events(text: str, terminator: str | None = "enter") -> list[tuple[int, int, int]]:
    """The events a US-layout wedge scanner sends for ``text`` and its terminator key."""
    out: list[tuple[int, int, int]] = []
    for code, shift, ctrl in keystrokes(text):
        mods = ([KEY_LEFTCTRL] if ctrl else []) + ([KEY_LEFTSHIFT] if shift else [])
        out += [e for m in mods for e in ((EV_KEY, m, 1), (EV_SYN, 0, 0))]
        out += _tap(code)
        out += [e for m in reversed(mods) for e in ((EV_KEY, m, 0), (EV_SYN, 0, 0))]
    if terminator is not None:
        out += _tap(TERMINATOR_KEYS[terminator])
    return out


def _tap(code: int) -> list[tuple[int, int, int]]:
    return [(EV_MSC, MSC_SCAN, 0x70000 + code), (EV_KEY, code, 1), (EV_SYN, 0, 0), (EV_KEY, code, 0), (EV_SYN, 0, 0)]


class WedgeSimulator:
    """A wedge scanner with one or more event nodes that can be unplugged and plugged back."""

    def __init__(self, paths: Iterable[str] = DEFAULT_PATHS) -> None:
        self.paths = list(paths)
        self.plugged = True
        self.nodes: dict[str, PipeNode] = {}
        self.opens = 0

    def list_nodes(self, url: str) -> list[str]:
        """The simulated nodes ``url`` (a path or glob) matches while plugged in."""
        return [p for p in self.paths if fnmatch.fnmatchcase(p, url)] if self.plugged else []

    def open_node(self, path: str) -> PipeNode:
        """A fresh node for ``path`` (FileNotFoundError while unplugged)."""
        if not self.plugged or path not in self.paths:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        node = PipeNode(path)
        self.nodes[path] = node
        self.opens += 1
        return node

    def scan(self, text: str, terminator: str | None = "enter", *, node: int = 0) -> bytes:
        """Type one code on node number ``node``; returns the bytes of the records."""
        return self.nodes[self.paths[node]].send(key_events(text, terminator))

    def send(self, events: Iterable[tuple[int, int, int]], *, node: int = 0) -> bytes:
        """Send raw (type, code, value) events on node number ``node``."""
        return self.nodes[self.paths[node]].send(events)

    def unplug(self) -> None:
        """Pull the scanner: open nodes read ENODEV, and no node can be found or opened."""
        self.plugged = False
        for node in self.nodes.values():
            node.unplug()

    def plug(self) -> None:
        """Plug the scanner back in (the driver must reopen it)."""
        self.plugged = True

    def close(self) -> None:
        """Close every node made."""
        for node in self.nodes.values():
            node.close()
