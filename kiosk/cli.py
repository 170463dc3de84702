"""The ``kiosk`` command: demo, serve, check-config, read-card.

Each sub-command parses its arguments, calls one function and turns expected errors
(ConfigError, DataError, LedgerError) into a one-line reason and a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, cli_tools, data_cli, users_cli
from .config import KioskConfig
from .errors import KioskError
from .logconfig import setup_logging


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kiosk`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level, wire=args.wire)
    try:
        return int(args.func(args) or 0)
    except KioskError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kiosk", description="Border-market checkpoint kiosk")
    p.add_argument("--version", action="version", version=f"kiosk {__version__}")
    p.add_argument("--log-level", default=os.environ.get("KIOSK_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--wire", action="store_true", help="log every device byte (hex) at DEBUG")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="the whole kiosk on simulated devices, with a /sim panel")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data-dir", type=Path, default=None,
                      help="where the demo keeps its ledger (default: a new temporary folder)")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="run the kiosk on the configured devices")
    serve.add_argument("--config", type=Path, default=cli_tools.DEFAULT_CONFIG)
    serve.set_defaults(func=_serve)

    check = sub.add_parser("check-config", help="validate a config file and print it, secrets masked")
    check.add_argument("config", type=Path)
    check.set_defaults(func=_check_config)

    read = sub.add_parser("read-card", help="read one card and print it as one JSON object",
                          description="Read one card (ID card, passport chip or officer badge) and print one JSON "
                                      "object; on failure print a one-line reason and exit 1.")
    read.add_argument("--driver", required=True, choices=["samv", "emrtd", "badge"])
    read.add_argument("--url", required=True,
                      help="a serial URL for samv (/dev/ttyUSB0, loop://, ...); pcsc:[reader name part] otherwise")
    mrz = read.add_mutually_exclusive_group()
    mrz.add_argument("--mrz", help="the document's MRZ (emrtd only): its lines, joined or separated by spaces")
    mrz.add_argument("--mrz-url", metavar="URL",
                     help="emrtd only, instead of --mrz: take the MRZ from the document scanner at this serial "
                          "URL (/dev/ttyACM0, socket://..., ...), waiting up to --timeout for it")
    read.add_argument("--timeout", type=float, default=10.0,
                      help="seconds to wait for a card, and before that for the MRZ with --mrz-url (default 10)")
    read.set_defaults(func=_read_card)
    cli_tools.register(sub)
    data_cli.register(sub)
    users_cli.register(sub)
    return p


def load(path: Path) -> KioskConfig:
    """Load and validate the config at ``path`` with the drivers' option tables and this environment."""
    from drivers.registry import check_device

    from .config import load_config
    return load_config(path, env=os.environ, check_device=check_device)


def _serve(args: argparse.Namespace) -> int:
    from web.server import run

    from .clock import SystemClock
    from .runtime import build_kiosk

    cfg = load(args.config)
    kiosk = build_kiosk(cfg, SystemClock())
    run(kiosk, host=cfg.web.host, port=cfg.web.port, threads=cfg.web.threads)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(host=args.host, port=args.port, data_dir=args.data_dir)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    for key, value in sorted(vars(cfg).items()):
        shown = "****" if key == "site_secret" else value
        if key == "ledger_url" and str(value).startswith(("postgresql:", "postgres:")):
            from .ledger.postgres import describe_url
            shown = describe_url(str(value))          # never print a password
        print(f"{key} = {shown!r}")
    return 0


def _read_card(args: argparse.Namespace) -> int:
    from drivers.readcard import ReadFailed, read_card

    try:
        card = read_card(args.driver, args.url, mrz=args.mrz, mrz_url=args.mrz_url, timeout=args.timeout)
    except ReadFailed as exc:
        print(f"kiosk read-card: {exc.reason}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(card, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
