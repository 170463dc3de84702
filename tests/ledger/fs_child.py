"""SQLite on a real full disk and on a read-only file system, in a private mount namespace.

Run as ``unshare --mount --propagation private python -m tests.ledger.fs_child DIR``: nothing outside this
process sees its mounts. A 1 MiB tmpfs mounted on DIR holds the ledger (room enough for the migrations' WAL and
the checkpoint on close: a smaller one leaves the WAL behind, and a read-only open then succeeds on it). The child
fills the disk, tries to hold, frees the space, holds again, then remounts the file system read-only and opens
the ledger again. It prints one JSON object of what happened; tests/ledger/test_faults.py asserts on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.errors import LedgerError
from kiosk.ledger.sqlite import SqliteLedger
from tests.ledger.support import DAY, decl

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def _fill(path: Path) -> None:
    """Write to ``path`` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def _attempt(call: Any) -> str:
    """``ok`` or the LedgerError's text."""
    try:
        call()
        return "ok"
    except LedgerError as exc:
        return f"LedgerError: {exc}"


def main(mnt: Path) -> dict[str, Any]:
    """Run the scenario on a tmpfs mounted at ``mnt``; every outcome goes into the returned dict."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    path, out = mnt / "ledger.db", dict[str, Any]()
    led = SqliteLedger(path)
    out["first"] = _attempt(lambda: led.hold(decl("a", 100_000), now=NOW, ttl_s=120))
    _fill(mnt / "filler")
    out["full_hold"] = _attempt(lambda: led.hold(decl("b", 100_000), now=NOW, ttl_s=120))
    out["full_commit"] = _attempt(lambda: led.commit("a", now=NOW))
    out["full_used"] = led.used("r1", DAY, now=NOW)
    (mnt / "filler").unlink()
    out["freed_hold"] = _attempt(lambda: led.hold(decl("c", 100_000), now=NOW, ttl_s=120))
    led.close()
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    out["readonly_open"] = _attempt(lambda: SqliteLedger(path).close())
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
