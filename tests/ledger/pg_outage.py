"""PostgreSQL clusters a ledger test runs on its own, so that it may stop and start the server for real."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kiosk.ledger.admin import migrate
from tests.pg_cluster import PGBIN, PgCluster, _as_postgres, _run


@contextmanager
def running(cluster: PgCluster) -> Iterator[PgCluster]:
    """Start ``cluster``; stop it and delete its folder afterwards, whatever happened."""
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def fresh_database(cluster: PgCluster, name: str) -> Iterator[str]:
    """A fresh, migrated database; the server is running again afterwards (to drop it), whatever happened."""
    db_url = cluster.create_database(name)
    migrate(db_url)
    yield db_url
    if not (cluster.data / "postmaster.pid").exists():
        cluster.start()
    cluster.drop_database(name)


def stop(cluster: PgCluster) -> None:
    """``pg_ctl stop -m fast``: the port database is gone, its data kept."""
    _run(_as_postgres([str(PGBIN / "pg_ctl"), "-D", str(cluster.data), "-m", "fast", "-w", "stop"]),
         "stopping PostgreSQL", cluster.log)
