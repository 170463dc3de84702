"""Throwaway PostgreSQL 15 clusters for the tests and the benchmark (initdb as postgres, loopback only).

``PgTemplate`` runs initdb once (about 1.7 s); each ``PgCluster`` copies it (a fraction of a second) and starts
it on a free port, listening on 127.0.0.1 only, with its socket in its own folder. Everything lives in a
``mkdtemp`` folder in /tmp owned by the postgres user (never pytest's tmp_path: /tmp/pytest-of-root is 0700),
and server commands run through ``runuser -u postgres`` when root, because initdb and postgres refuse root.
A cluster may keep one tablespace folder on a tiny tmpfs, mounted in a private mount namespace that only the
server sees, to make a real "disk full" without touching the machine's mounts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

PGBIN = Path(os.environ.get("KIOSK_PG_BIN", "/usr/lib/postgresql/15/bin"))  # Debian keeps it off PATH
FAST = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


class PgUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing: names the Debian package that provides them."""


def require_binaries() -> None:
    """PgUnavailable unless initdb, pg_ctl and postgres are installed."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (PGBIN / name).is_file()]
    if missing:
        raise PgUnavailable(
            f"PostgreSQL 15 server binaries not found in {PGBIN} ({', '.join(missing)} missing): install the "
            "Debian package postgresql-15 (`apt-get install postgresql-15`; `make test` does it as root), "
            "or point KIOSK_PG_BIN at another PostgreSQL 15 bin folder"
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _owned_tempdir(prefix: str) -> Path:
    """A new folder in /tmp that the postgres user owns (when root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    return folder


def _as_postgres(cmd: list[str]) -> list[str]:
    """``cmd`` run as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    """Run a command; RuntimeError with its output (and the server log's tail) if it fails."""
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout.strip()}\n{tail}")


class PgTemplate:
    """An initdb'ed data folder that clusters copy."""

    def __init__(self) -> None:
        require_binaries()
        self.root = _owned_tempdir("kiosk-pgtemplate-")
        self.data = self.root / "data"
        try:
            _run(_as_postgres([str(PGBIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]), "initdb")
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def remove(self) -> None:
        """Delete the template."""
        shutil.rmtree(self.root, ignore_errors=True)


class PgCluster:
    """One running throwaway cluster: fast (fsync off, for tests) or durable (fsync on, as production)."""

    def __init__(self, template: PgTemplate, *, durable: bool = False, tiny_tablespace_kb: int = 0) -> None:
        self.root = _owned_tempdir("kiosk-pg-")
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.durable = durable
        self.tiny_dir = self.root / "tiny" if tiny_tablespace_kb else None
        self._tiny_kb = tiny_tablespace_kb
        # cp -a keeps the postgres ownership and the 0700 mode the server insists on.
        _run(["cp", "-a", str(template.data), str(self.data)], "copying the template cluster")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-k", str(self.root)]
        if not self.durable:
            options += FAST
        cmd = _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                            "-o", " ".join(options), "start"])
        if self.tiny_dir is not None:
            cmd = self._in_private_namespace(cmd)
        _run(cmd, "starting PostgreSQL", self.log)

    def _in_private_namespace(self, cmd: list[str]) -> list[str]:
        """Wrap ``cmd`` so that it runs with a tiny tmpfs at ``tiny_dir`` that only it (and its children) see."""
        assert self.tiny_dir is not None
        if os.geteuid() != 0:
            raise RuntimeError("a tmpfs tablespace needs root (mount namespaces)")
        self.tiny_dir.mkdir()
        mount = (f'mount -t tmpfs -o size={self._tiny_kb}k,mode=0700,uid=$(id -u postgres),gid=$(id -g postgres)'
                 ' tmpfs "$0" && exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", mount, str(self.tiny_dir), *cmd]

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m mode``: every session is cut, the server comes back on the same port."""
        if self.tiny_dir is not None:
            raise RuntimeError("a cluster with a tmpfs tablespace cannot be restarted (the mount would be lost)")
        options = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.port), "-k", str(self.root)]
        if not self.durable:
            options += FAST
        _run(_as_postgres([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                           "-m", mode, "-o", " ".join(options), "restart"]), "restarting PostgreSQL", self.log)

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                _run(_as_postgres([str(PGBIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                                   "stop"]), "stopping PostgreSQL", self.log)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        """The URL of one database of this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[TupleRow]:
        """A new autocommit superuser session (close it, or use it as a context manager)."""
        return psycopg.connect(self.url(dbname), autocommit=True)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, cutting its sessions."""
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
