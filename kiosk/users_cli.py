"""``kiosk users add|disable|enable|list``: the staff accounts file, from a shell on the kiosk.

The PIN is never an argument (it would sit in the shell history and in ``ps``): it is asked twice on a
terminal, or read as one line from standard input with ``--pin-stdin`` (for provisioning scripts).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from .cli_tools import DEFAULT_CONFIG
from .clock import SystemClock
from .users import ROLES, UserError, UserStore


def register(sub: Any) -> None:
    """Add the ``users`` sub-commands to ``sub``."""
    users = sub.add_parser("users", help="officer and technician accounts").add_subparsers(required=True,
                                                                                        metavar="ACTION")
    add = users.add_parser("add", help="create an account (asks for the PIN)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--badge", metavar="UID", help="the officer badge's UID in hex (as `kiosk read-card` prints)")
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN as one line from standard input")
    add.set_defaults(func=_add)
    for action, disabled in (("disable", True), ("enable", False)):
        cmd = users.add_parser(action, help=f"{action} an account (a disabled account's sessions end)")
        cmd.add_argument("name")
        cmd.set_defaults(func=_set_disabled, disabled=disabled)
    lst = users.add_parser("list", help="every account: name, role, state")
    lst.set_defaults(func=_list)
    for cmd in (add, lst, *[users.choices[a] for a in ("disable", "enable")]):
        cmd.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
        cmd.add_argument("--db", type=Path, help="the accounts file (default: the config's [security] users_db)")


def _store(args: argparse.Namespace) -> UserStore:
    if args.db is not None:
        return UserStore(args.db)
    from .cli import load
    sec = load(args.config).security
    return UserStore(sec.users_db, max_failures=sec.max_failures, lockout_s=sec.lockout_s)


def _read_pin(args: argparse.Namespace) -> str:
    if args.pin_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("PIN: ")
    if getpass.getpass("PIN again: ") != first:
        raise UserError("the two PINs differ")
    return first


def _add(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        user = store.add(args.name, args.role, _read_pin(args), now=SystemClock().now(), badge_uid=args.badge)
    except UserError as exc:
        print(f"kiosk users add: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"added {user.name} ({user.role}{', badge enrolled' if user.has_badge else ''})")
    return 0


def _set_disabled(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        user = store.set_disabled(args.name, args.disabled)
    except UserError as exc:
        print(f"kiosk users: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"{user.name} {'disabled' if user.disabled else 'enabled'}")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        users = store.list()
    finally:
        store.close()
    now = SystemClock().now()
    print(f"{'NAME':<20} {'ROLE':<11} {'BADGE':<6} STATE")
    for u in users:
        state = "disabled" if u.disabled else "active"
        if u.locked_until is not None and u.locked_until > now:
            state += f", locked until {u.locked_until.isoformat(timespec='seconds')}"
        print(f"{u.name:<20} {u.role:<11} {'yes' if u.has_badge else 'no':<6} {state}")
    return 0
