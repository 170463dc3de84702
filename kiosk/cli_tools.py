"""The technicians' and administrators' sub-commands of ``kiosk``.

Each sub-command parses its arguments and calls one function that does the work elsewhere
(``kiosk.doctor``, ``kiosk.residents``, ``kiosk.techtools``); results are printed as JSON or
as the report's own lines, and a failure is a non-zero exit with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from .config import SECRET_ENV

DEFAULT_CONFIG = Path(os.environ.get("KIOSK_CONFIG", "/etc/kiosk/kiosk.toml"))


def register(sub: Any) -> None:
    """Add the doctor, registry, ledger, gate, decode, scan and slip sub-commands to ``sub``."""
    doctor = sub.add_parser("doctor", help="check devices, pcscd, camera, ledger, clock and disk; exit 1 on a problem")
    doctor.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    doctor.set_defaults(func=_doctor)

    registry = sub.add_parser("registry", help="the resident registry").add_subparsers(required=True,
                                                                                       metavar="ACTION")
    imp = registry.add_parser("import", help="check the authority's CSV, report every rejected row, install it")
    imp.add_argument("file", type=Path)
    imp.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    imp.add_argument("--allow-partial", action="store_true", help="install the good rows even if some are bad")
    imp.add_argument("--dry-run", action="store_true", help="report only; install nothing")
    imp.set_defaults(func=_registry_import)

    ledger = sub.add_parser("ledger", help="the quota ledger").add_subparsers(required=True, metavar="ACTION")
    mig = ledger.add_parser("migrate", help="bring the ledger's schema up to date (run once per upgrade)")
    mig.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    mig.add_argument("--url", help="the ledger URL (default: the config's [ledger] url)")
    mig.set_defaults(func=_ledger_migrate)
    rem = ledger.add_parser("remaining", help="a resident's duty-free quota left on a day")
    rem.add_argument("id_number")
    rem.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD (default: today, Beijing time)")
    rem.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    rem.set_defaults(func=_ledger_remaining)
    exp = ledger.add_parser("export", help="every declaration of a day as CSV")
    exp.add_argument("--date", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    exp.add_argument("--output", type=Path, help="file to write (default: standard output)")
    exp.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    exp.set_defaults(func=_ledger_export)

    audit = sub.add_parser("audit", help="the audit chain").add_subparsers(required=True, metavar="ACTION")
    averify = audit.add_parser("verify", help="recompute every kiosk's hash chain; exit 1 at the first altered record")
    averify.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    averify.add_argument("--url", help="the ledger URL (default: the config's [ledger] url)")
    averify.set_defaults(func=_audit_verify)

    gate = sub.add_parser("gate", help="test the gate relay board").add_subparsers(required=True, metavar="ACTION")
    pulse = gate.add_parser("pulse", help="release the gate once")
    pulse.add_argument("--driver", required=True, choices=["lcus", "modbus"])
    pulse.add_argument("--url", required=True, help="the board's serial URL, as in the config file")
    pulse.add_argument("--channel", type=int, default=1, help="relay channel, counted from 1")
    pulse.add_argument("--ms", type=int, default=500, help="pulse length in milliseconds")
    pulse.add_argument("--unit", type=int, default=None, help="Modbus unit address (modbus only)")
    pulse.set_defaults(func=_gate_pulse)
    inputs = gate.add_parser("inputs", help="read a Modbus board's inputs and relays, switching nothing")
    inputs.add_argument("--driver", required=True, choices=["modbus"])
    inputs.add_argument("--url", required=True)
    inputs.add_argument("--unit", type=int, default=1)
    inputs.set_defaults(func=_gate_inputs)

    dec = sub.add_parser("decode", help="every barcode in photos or videos, one JSON object per code")
    dec.add_argument("files", nargs="+", type=Path)
    dec.set_defaults(func=_decode)
    scan = sub.add_parser("scan", help="scans from a scanner as JSON lines (Ctrl+C stops)")
    scan.add_argument("url")
    scan.add_argument("--driver", choices=["serial-scanner", "hid-scanner", "camera"],
                      help="default: guessed from the URL")
    scan.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE")
    scan.add_argument("--count", type=int, help="stop after this many scans")
    scan.set_defaults(func=_scan)

    slip = sub.add_parser("slip", help="declaration slips").add_subparsers(required=True, metavar="ACTION")
    verify = slip.add_parser("verify", help=f"check a scanned slip QR payload (key from {SECRET_ENV})")
    verify.add_argument("payload")
    verify.set_defaults(func=_slip_verify)


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor
    return run_doctor(args.config, os.environ)


def _registry_import(args: argparse.Namespace) -> int:
    from .cli import load
    from .residents import import_registry, write_registry

    report = import_registry(args.file, allow_partial=args.allow_partial)
    for line in report.lines():
        print(line)
    if report.registry is None:
        return 1
    if not args.dry_run:
        target = load(args.config).residents_csv
        write_registry(report.registry, target)
        print(f"installed into {target}; restart the kiosk service to use it")
    return 3 if report.rejected else 0


def _run_tool(command: str, tool: Callable[[], dict[str, Any]], ok_key: str = "ok", hint: str = "") -> int:
    """Print a techtools result as JSON: exit 0 when ``result[ok_key]``, else 1; a bad argument exits 2."""
    try:
        result = tool()
    except ValueError as exc:
        print(f"kiosk {command}: {exc}{hint}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result.get(ok_key) else 1


def _gate_pulse(args: argparse.Namespace) -> int:
    from .techtools import gate_pulse

    return _run_tool("gate pulse", lambda: gate_pulse(args.driver, args.url, args.channel, args.ms, args.unit))


def _gate_inputs(args: argparse.Namespace) -> int:
    from .techtools import gate_inputs

    return _run_tool("gate inputs", lambda: gate_inputs(args.url, args.unit))


def _slip_verify(args: argparse.Namespace) -> int:
    from .slip import slip_key
    from .techtools import verify_slip_payload

    secret = os.environ.get(SECRET_ENV, "").encode()
    return _run_tool("slip verify", lambda: verify_slip_payload(args.payload, slip_key(secret)),
                     ok_key="genuine", hint=f" (set {SECRET_ENV})")


def _decode(args: argparse.Namespace) -> int:
    from .barcode_cli import decode_files

    for item in decode_files(args.files):
        print(json.dumps(item, ensure_ascii=False), flush=True)
    return 0


def _scan(args: argparse.Namespace) -> int:
    from .barcode_cli import parse_option_args, scan_lines

    for item in scan_lines(args.url, args.driver, parse_option_args(args.option), max_scans=args.count):
        print(json.dumps(item, ensure_ascii=False), flush=True)
    return 0


def _ledger_migrate(args: argparse.Namespace) -> int:
    from .cli import load
    from .ledger.admin import migrate

    url = args.url or load(args.config).ledger_url
    result = migrate(url)
    print(f"{result.ledger}: schema {result.before} -> {result.after}")
    return 0


def _ledger_remaining(args: argparse.Namespace) -> int:
    from .cli import load
    from .clock import SystemClock
    from .identity import mask_id, resident_key, validate_id_number
    from .ledger import open_ledger
    from .ledger.admin import remaining
    from .money import format_fen
    from .policy import rule_for, trade_day

    problem = validate_id_number(args.id_number)
    if problem is not None:
        print(f"kiosk ledger remaining: {problem}: not a valid resident ID number", file=sys.stderr)
        return 2
    cfg = load(args.config)
    now = SystemClock().now()
    day = args.date or trade_day(now, cfg.timezone)
    ledger = open_ledger(cfg.ledger_url)
    try:
        quota = remaining(ledger, resident_key(args.id_number, cfg.site_secret), day,
                          limit_fen=rule_for(cfg.quota, day).daily_limit_fen, now=now)
    finally:
        ledger.close()
    print(json.dumps({"id": mask_id(args.id_number), "day": day.isoformat(), "used": format_fen(quota.used_fen),
                      "limit": format_fen(quota.limit_fen), "remaining": format_fen(quota.remaining_fen),
                      "remaining_fen": quota.remaining_fen}, ensure_ascii=False))
    return 0


def _ledger_export(args: argparse.Namespace) -> int:
    from .cli import load
    from .ledger import open_ledger
    from .ledger.admin import export_csv

    ledger = open_ledger(load(args.config).ledger_url)
    try:
        if args.output is None:
            count = export_csv(ledger, args.date, sys.stdout)
        else:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = export_csv(ledger, args.date, out)
    finally:
        ledger.close()
    print(f"{count} declarations of {args.date.isoformat()}", file=sys.stderr)
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from .audit import verify_audit
    from .cli import load

    result = verify_audit(args.url or load(args.config).ledger_url)
    if result.ok:
        print(f"audit ok: {result.reason}")
        return 0
    kiosk_id, seq = result.first_bad or ("?", "?")
    print(f"audit FAILED at kiosk {kiosk_id} record {seq}: {result.reason}", file=sys.stderr)
    return 1
