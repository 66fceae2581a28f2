"""The ``affiliate-sdk`` command.

* ``affiliate-sdk demo [--db PATH] [--clicks N] [--seed S]``: run a whole
  alliance on SQLite and print a summary.
* ``affiliate-sdk keys new``: print a fresh 256-bit link-signing secret (hex).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from affiliate_sdk.errors import AffiliateError
from affiliate_sdk.tracking.keys import MIN_SECRET_BYTES

__all__ = ["main"]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affiliate-sdk", description="Affiliate alliance SDK: demo and key tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a seeded alliance on SQLite and print a summary")
    demo.add_argument("--db", type=Path, default=Path("affiliate-demo.db"), help="SQLite file")
    demo.add_argument("--clicks", type=_positive, default=5000, help="clicks to simulate")
    demo.add_argument("--seed", type=int, default=7, help="random seed (same seed, same summary)")

    keys = commands.add_parser("keys", help="signing key tools")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_commands.add_parser("new", help="print a fresh 256-bit secret as hex")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from affiliate_sdk.demo import run_demo

            print(
                f"affiliate-sdk demo: seed {args.seed}, {args.clicks:,} clicks, SQLite at {args.db}"
            )
            summary = run_demo(args.db, clicks=args.clicks, seed=args.seed)
            print(summary.render())
        elif args.command == "keys":
            print(secrets.token_hex(MIN_SECRET_BYTES))
    except AffiliateError as exc:
        print(f"affiliate-sdk: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
