"""The card side of vsmartcard's vpcd reader driver: a Python card "inserted" into a pcscd reader.

pyscard -> libpcsclite -> pcscd -> libifdvpcd.so (vpcd) -> TCP 127.0.0.1:PORT -> ``VpcdCardClient``

vpcd wire protocol (TESTING.md §1a), both directions: a 2-byte big-endian length, then the
payload.  From vpcd, one byte is a control message (00 power off, 01 power on, 02 reset,
04 "send your ATR", answered with the ATR); anything longer is a command APDU, answered with
the response APDU.  Connecting is inserting the card; closing the connection is removing it.

vpcd is the TCP server (reader.conf ``DEVICENAME /dev/null:PORT``); its "reversed" mode crashes
Debian's pcscd 1.9.9 on card removal (TESTING.md §1c.2).  While inserted, the client reconnects
whenever the connection drops, so a card left on a reader reappears when pcscd comes back.
Fault: ``pull_before(n)`` takes the card away instead of answering its n-th command APDU (a hand
that lifts the passport mid-read).
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from typing import Protocol

log = logging.getLogger(__name__)

POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04


class VirtualCard(Protocol):
    """What a virtual card implements."""

    atr: bytes

    def apdu(self, command: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data + SW1 SW2)."""

    def reset(self) -> None:
        """Power off, power on or reset: forget every security state."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("vpcd closed the connection")
        buf += chunk
    return buf


class VpcdCardClient:
    """A virtual card on a vpcd reader slot: ``insert`` connects, ``remove`` disconnects."""

    def __init__(self, card: VirtualCard, port: int, host: str = "127.0.0.1") -> None:
        self.card = card
        self.addr = (host, port)
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.connections = 0            # how many times vpcd accepted the card (tests read it)
        self._pull_at: int | None = None
        self._apdus = 0

    @property
    def inserted(self) -> bool:
        """True between insert and remove (or a pull)."""
        return self._thread is not None and self._thread.is_alive()

    def insert(self) -> None:
        """Put the card on the reader (returns at once; connects as soon as vpcd listens)."""
        if self.inserted:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name=f"vpcd-card-{self.addr[1]}",
                                        daemon=True)
        self._thread.start()

    def pull_before(self, n: int) -> None:
        """Leave the reader instead of answering the ``n``-th command APDU from now (1 = the next)."""
        self._pull_at, self._apdus = n, 0

    def remove(self) -> None:
        """Take the card off the reader: close the connection and stop reconnecting."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)   # wakes the serving thread at once
            except OSError:
                pass
        thread.join(2.0)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                sock = socket.create_connection(self.addr, timeout=1.0)
            except OSError:
                stop.wait(0.05)         # pcscd not (yet, or no longer) listening
                continue
            self._sock = sock
            self.connections += 1
            try:
                self._serve(sock, stop)
            except (ConnectionError, OSError):
                pass                    # vpcd went away: try again while inserted
            finally:
                self._sock = None
                sock.close()
            self.card.reset()

    def _serve(self, sock: socket.socket, stop: threading.Event) -> None:
        sock.settimeout(0.2)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not stop.is_set():
            # vpcd writes the length and the payload in two send()s: without QUICKACK (set again
            # before every recv, the kernel clears it) each APDU waits 40 ms for a delayed ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            try:
                head = _recv_exact(sock, 2)
            except TimeoutError:
                continue
            sock.settimeout(2.0)        # the payload follows the length at once
            message = _recv_exact(sock, struct.unpack(">H", head)[0])
            sock.settimeout(0.2)
            if len(message) > 1 and self._pulled():
                stop.set()              # gone without an answer; remove() joins nothing more
                return
            answer = self._answer(message)
            if answer is not None:
                sock.sendall(struct.pack(">H", len(answer)) + answer)

    def _pulled(self) -> bool:
        self._apdus += 1
        if self._pull_at is None or self._apdus < self._pull_at:
            return False
        self._pull_at = None
        return True

    def _answer(self, message: bytes) -> bytes | None:
        if len(message) == 1:
            if message[0] == GET_ATR:
                return self.card.atr
            self.card.reset()           # power off / on / reset: no answer
            return None
        try:
            return self.card.apdu(message)
        except Exception:
            log.exception("virtual card failed on a command")
            return b"\x6F\x00"
