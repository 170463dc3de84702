"""The staff accounts file: scrypt PIN hashes, badges stored hashed, lockout, disabling."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.users import SignInError, UserError, UserStore, hash_pin, verify_pin

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
KIOSK = str(Path(sys.executable).with_name("kiosk"))


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    s = UserStore(tmp_path / "users.db", max_failures=3, lockout_s=60)
    s.add("ana", "officer", "583920", now=NOW, badge_uid="04 a1 b2 c3")
    return s


def test_pin_hash_is_salted_scrypt_and_verifies_only_the_right_pin() -> None:
    one, two = hash_pin("583920"), hash_pin("583920")
    assert one.startswith("scrypt$16384$8$1$") and one != two          # a fresh salt each time
    assert verify_pin(one, "583920") and verify_pin(two, "583920")
    assert not verify_pin(one, "583921") and not verify_pin("garbage", "583920")


def test_the_file_holds_neither_pin_nor_badge_uid(store: UserStore) -> None:
    raw = store.path.read_bytes() + b"".join(p.read_bytes() for p in store.path.parent.glob("users.db-*"))
    assert b"583920" not in raw and b"04A1B2C3" not in raw.upper()


def test_badge_uid_matches_whatever_the_case_and_spacing(store: UserStore) -> None:
    assert store.authenticate_badge("04A1B2C3", "583920", now=NOW).name == "ana"
    with pytest.raises(SignInError):
        store.authenticate_badge("04A1B2C4", "583920", now=NOW)


def test_lockout_counts_consecutive_failures_and_a_success_resets(store: UserStore) -> None:
    for _ in range(2):
        with pytest.raises(SignInError, match="wrong"):
            store.authenticate("ana", "000000", now=NOW)
    assert store.authenticate("ana", "583920", now=NOW).name == "ana"       # resets the count
    for reason in ("bad_credentials", "bad_credentials", "locked"):
        with pytest.raises(SignInError) as err:
            store.authenticate("ana", "000000", now=NOW)
        assert err.value.reason == reason
    with pytest.raises(SignInError) as err:
        store.authenticate("ana", "583920", now=NOW + timedelta(seconds=59))
    assert err.value.reason == "locked"
    assert store.authenticate("ana", "583920", now=NOW + timedelta(seconds=61)).name == "ana"


def test_disabled_account_cannot_sign_in(store: UserStore) -> None:
    store.set_disabled("ana", True)
    with pytest.raises(SignInError):
        store.authenticate("ana", "583920", now=NOW)
    store.set_disabled("ana", False)
    assert store.authenticate("ana", "583920", now=NOW).name == "ana"


@pytest.mark.parametrize(("name", "role", "pin", "why"), [
    ("ana", "officer", "123456", "already exists"),
    ("Bad Name", "officer", "123456", "user name"),
    ("bo", "admin", "123456", "role"),
    ("bo", "officer", "12345", "6 to 64"),
    ("bo", "officer", "111111", "repeat"),
])
def test_add_refuses_bad_accounts(store: UserStore, name: str, role: str, pin: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        store.add(name, role, pin, now=NOW)


def test_roles_are_checked_by_the_database_too(store: UserStore) -> None:
    with sqlite3.connect(store.path) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO users (name, role, pin_hash, created_at) VALUES ('x', 'admin', 'h', 't')")


def test_users_cli_add_disable_list(tmp_path: Path) -> None:
    db = str(tmp_path / "u.db")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([KIOSK, "users", *args, "--db", db], input=stdin, capture_output=True, text=True,
                              timeout=60)

    added = run("add", "li.wei", "--role", "officer", "--badge", "04A1B2C3", "--pin-stdin", stdin="583920\n")
    assert added.returncode == 0 and "badge enrolled" in added.stdout
    assert run("add", "li.wei", "--role", "technician", "--pin-stdin", stdin="583920\n").returncode == 1
    short = run("add", "tech2", "--role", "technician", "--pin-stdin", stdin="12\n")
    assert short.returncode == 1 and "6 to 64" in short.stderr
    assert run("disable", "li.wei").returncode == 0
    assert run("disable", "nobody").returncode == 1
    listing = run("list").stdout.splitlines()
    assert listing[1].split()[:4] == ["li.wei", "officer", "yes", "disabled"] and len(listing) == 2
    store = UserStore(Path(db))
    with pytest.raises(SignInError):
        store.authenticate("li.wei", "583920", now=NOW)
