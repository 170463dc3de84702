"""Kiosk processes for the ledger's concurrency and fault tests (spawned, so module-level functions only).

Each worker opens its own ledger from the URL, as a separate kiosk does, and reports every call through its
pipe *before* and *after* it runs (``begin`` / ``end``), so that the parent knows, even after a SIGKILL,
which call was in flight. A call that raises LedgerError is logged as uncertain (tests.ledger.oplog) and the
worker goes on, as the checkpoint does (it refers the resident). Any other exception ends the worker with a
``crash`` report, which the tests treat as a failure.
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier, Event
from typing import Any

from kiosk.declaration import Declaration
from kiosk.errors import LedgerError
from kiosk.ledger import Ledger, open_ledger
from kiosk.ledger.postgres import PostgresLedger
from tests.ledger.oplog import UNCERTAIN, OpLog
from tests.ledger.support import DAY, LIMIT, decl, food

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # every worker's clock: nothing expires during a test
TTL = 300.0


class Reporter:
    """Runs ledger calls and reports each one (begin, then its outcome) through the pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.errors = 0

    def run(self, kind: str, decl_id: str, call: Callable[[], str]) -> str:
        """Report, run, report; LedgerError gives the uncertain outcome."""
        self.conn.send(("begin", kind, decl_id, time.monotonic()))
        try:
            outcome = call()
        except LedgerError:
            self.errors += 1
            outcome = UNCERTAIN
        self.conn.send(("end", kind, decl_id, outcome, time.monotonic()))
        return outcome

    def hold(self, led: Ledger, d: Declaration) -> str:
        """A reported hold at NOW: ``accepted``, ``refused`` or uncertain."""
        return self.run("hold", d.id, lambda: "accepted" if led.hold(d, now=NOW, ttl_s=TTL).accepted else "refused")

    def commit(self, led: Ledger, decl_id: str) -> str:
        """A reported commit at NOW."""
        return self.run("commit", decl_id, lambda: led.commit(decl_id, now=NOW).value)

    def release(self, led: Ledger, decl_id: str) -> str:
        """A reported release at NOW."""
        return self.run("release", decl_id, lambda: led.release(decl_id, now=NOW, reason="cancelled").value)

    def refer(self, led: Ledger, d: Declaration) -> str:
        """A reported referral at NOW."""

        def call() -> str:
            led.refer(d, now=NOW, reasons=["excluded_goods"])
            return "referred"

        return self.run("refer", d.id, call)


def _guarded(conn: Connection, body: Callable[[], dict[str, Any]]) -> None:
    """Run the worker body; report ``finish`` with its summary, or ``crash`` with the traceback."""
    try:
        conn.send(("finish", body()))
    except BaseException:
        conn.send(("crash", traceback.format_exc()))
    finally:
        conn.close()


def race_worker(url: str, k: int, rounds: int, amount: int, barrier: Barrier, conn: Connection) -> None:
    """Hold ``amount`` on round r's hot resident-day together with every other worker, then a mixed load."""

    def body() -> dict[str, Any]:
        led, rep = open_ledger(url), Reporter(conn)
        rng, won = random.Random(k), []
        for r in range(rounds):
            d = decl(f"race{r}-w{k}", amount, resident=f"hot{r % 3}", day=DAY + timedelta(days=r // 3),
                     kiosk=f"k{k}")
            barrier.wait(timeout=30)
            accepted = rep.hold(led, d) == "accepted"
            barrier.wait(timeout=30)  # everyone has held before anyone gives quota back
            if accepted:
                won.append(r)
                (rep.commit if rng.random() < 0.5 else rep.release)(led, d.id)
        pending: list[str] = []
        for i in range(60):
            mixed_step(led, rep, rng, f"mix-w{k}-{i}", pending, k)
        led.close()
        return {"won": won, "errors": rep.errors}

    _guarded(conn, body)


def cap_race_worker(url: str, k: int, rounds: int, grams: int, barrier: Barrier, conn: Connection) -> None:
    """Hold ``grams`` of food on round r's resident-day together with every other worker; winners commit."""

    def body() -> dict[str, Any]:
        led, rep = open_ledger(url), Reporter(conn)
        won = []
        for r in range(rounds):
            d = decl(f"food{r}-w{k}", 1_000 + k, resident=f"cook{r}", kiosk=f"k{k}", uses=(food(grams),))
            barrier.wait(timeout=30)
            if rep.hold(led, d) == "accepted":
                won.append(r)
                rep.commit(led, d.id)
        led.close()
        return {"won": won, "errors": rep.errors}

    _guarded(conn, body)


def mixed_step(led: Ledger, rep: Reporter, rng: random.Random, decl_id: str, pending: list[str], k: int) -> None:
    """One kiosk decision on 3 hot residents: refer, or hold (maybe retried), then resolve the oldest hold."""
    d = decl(decl_id, rng.randrange(20_000, 300_000), resident=f"hot{rng.randrange(3)}",
             day=DAY + timedelta(days=100 + rng.randrange(3)), kiosk=f"k{k}")
    if rng.random() < 0.1:
        rep.refer(led, d)
        return
    outcome = rep.hold(led, d)
    if outcome == "accepted" and rng.random() < 0.2:
        outcome = rep.hold(led, d)  # a retry after a lost answer: replays the first result
    if outcome == "accepted":
        pending.append(d.id)
    if len(pending) > 3:
        oldest = pending.pop(0)
        (rep.commit if rng.random() < 0.75 else rep.release)(led, oldest)


def hammer_worker(
    url: str, k: int, seconds: float, retry_window_s: float | None, stop: Event | None, conn: Connection
) -> None:
    """Mixed decisions back to back for ``seconds`` or until ``stop``; reports how often the ledger reconnected.

    ``retry_window_s`` (PostgreSQL only) replaces the ledger's default: 0 makes every call that meets a lost
    session raise LedgerError at once instead of reconnecting and completing.
    """

    def body() -> dict[str, Any]:
        led = open_ledger(url) if retry_window_s is None else PostgresLedger(url, retry_window_s=retry_window_s)
        rep = Reporter(conn)
        rng, pending, i = random.Random(1000 + k), list[str](), 0
        conn.send(("ready", time.monotonic()))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            mixed_step(led, rep, rng, f"ham-w{k}-{i}", pending, k)
            i += 1
        reconnects = getattr(led, "reconnects", 0)
        led.close()
        return {"errors": rep.errors, "reconnects": reconnects, "decisions": i}

    _guarded(conn, body)


def hold_and_wait(url: str, conn: Connection) -> None:
    """Hold the whole day's quota of resident ``doomed``, report it, then wait to be killed."""
    led = open_ledger(url)
    Reporter(conn).hold(led, decl("doomed-1", LIMIT, resident="doomed"))
    time.sleep(60)  # SIGKILLed here: between hold and commit


# --- the parent's side ---------------------------------------------------------------------------------


@dataclass
class Worker:
    """A started worker process, its pipe, and what it reported so far."""

    process: BaseProcess
    pipe: Connection
    log: OpLog = field(default_factory=list)
    inflight: tuple[str, str] | None = None
    summary: dict[str, Any] | None = None
    crash: str | None = None
    ready_at: float | None = None
    done_at: list[float] = field(default_factory=list)  # when each call that did not raise returned

    def receive(self, message: tuple[Any, ...]) -> None:
        """Fold one report into the log."""
        tag = message[0]
        if tag == "begin":
            self.inflight = (message[1], message[2])
        elif tag == "end":
            self.inflight = None
            self.log.append((message[1], message[2], message[3]))
            if message[3] != UNCERTAIN:
                self.done_at.append(message[4])
        elif tag == "ready":
            self.ready_at = message[1]
        elif tag == "finish":
            self.summary = message[1]
        elif tag == "crash":
            self.crash = message[1]

    def final_log(self) -> OpLog:
        """The log, with the call in flight when the process died counted as uncertain."""
        return self.log + ([(*self.inflight, UNCERTAIN)] if self.inflight else [])


def spawn(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> list[Worker]:
    """Start one spawned process per argument tuple; each gets the write end of its own pipe last."""
    ctx = multiprocessing.get_context("spawn")
    workers = []
    for extra in args:
        reader, writer = ctx.Pipe(duplex=False)
        process = ctx.Process(target=target, args=(*extra, writer), daemon=True)
        process.start()
        writer.close()
        workers.append(Worker(process, reader))
    return workers


def pump(workers: Sequence[Worker], until: Callable[[], bool], timeout: float) -> None:
    """Read every pipe as reports arrive until ``until()`` or ``timeout``; pipes at EOF are closed."""
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        open_pipes = {w.pipe: w for w in workers if not w.pipe.closed}
        if not open_pipes:
            return
        for pipe in wait(list(open_pipes), timeout=0.05):
            assert isinstance(pipe, Connection)
            try:
                open_pipes[pipe].receive(pipe.recv())
            except EOFError:
                pipe.close()


def finish(workers: Sequence[Worker], timeout: float) -> None:
    """Read until every worker has ended, then reap them (killing any left after ``timeout``)."""
    pump(workers, lambda: all(w.pipe.closed for w in workers), timeout)
    for w in workers:
        w.process.join(timeout=5)
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
