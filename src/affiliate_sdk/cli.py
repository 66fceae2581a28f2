"""The ``affiliate-sdk`` command.

* ``affiliate-sdk demo [--db PATH] [--clicks N] [--seed S]``: run a whole
  alliance on SQLite and print a summary.
* ``affiliate-sdk simulate [--scenario NAME|FILE.json] [--seed S] [--store memory|sqlite]
  [--json]``: play a seeded scenario with labelled fraud through an alliance and
  print how well the fraud engine did. ``--pack tuning|held_out [--run NAME]`` plays
  the adversary pack's runs of that split (``spent``: held-out runs already reported on,
  usable for tuning now) or one of them, on an alliance with
  nothing configured, and prints each run's figures and their table together.
* ``affiliate-sdk webhooks list|dispatch|retry|replay|prune --db PATH|--url URL ...``:
  the subscriptions of an alliance's SQLite file (or any store URL) and their state; deliver what
  is due now; retry a subscription now (re-enabling it) or a dead-lettered
  event; deliver again from an event or a time; delete delivered old events.
  Every command opens the alliance's sealed data with its keys, given in
  ``AFFILIATE_SDK_KEYS`` (``id=hex,id=hex``).
* ``affiliate-sdk db upgrade --url postgresql://... [--schema NAME]``: bring a PostgreSQL
  store's schema to this SDK's version (what a deploy pipeline runs before the app
  servers start); ``affiliate-sdk db sql [--schema NAME] [--from-version N]`` prints the
  same migrations as SQL, for a host that applies SQL itself.
* ``affiliate-sdk keys new``: print a fresh 256-bit link-signing secret (hex).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
        prog="affiliate-sdk",
        description="Affiliate alliance SDK: demo, fraud simulation, webhooks, migrations, keys.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a seeded alliance on SQLite and print a summary")
    demo.add_argument("--db", type=Path, default=Path("affiliate-demo.db"), help="SQLite file")
    demo.add_argument("--clicks", type=_positive, default=5000, help="clicks to simulate")
    demo.add_argument("--seed", type=int, default=7, help="random seed (same seed, same summary)")

    _simulate_parser(commands)

    hooks = commands.add_parser("webhooks", help="webhook subscriptions and deliveries")
    hook_commands = hooks.add_subparsers(dest="hooks_command", required=True)
    for name, text in (
        ("list", "subscriptions, their state and dead letters"),
        ("dispatch", "deliver what is due now, once"),
        ("retry", "retry a subscription now (re-enabling it), or one dead-lettered event"),
        ("replay", "deliver again from an event or a time on"),
        ("prune", "delete delivered events older than --days"),
    ):
        command = hook_commands.add_parser(name, help=text)
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--db", type=Path, help="the alliance's SQLite file")
        where.add_argument("--url", help="the alliance's store URL (postgresql://...)")
        if name in ("retry", "replay"):
            command.add_argument("subscription", help="subscription id")
            command.add_argument("--event", help="event id")
        if name == "replay":
            command.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-11T00:00:00+00:00")
        if name == "prune":
            command.add_argument("--days", type=_positive, default=30, help="keep this many days")
        if name == "dispatch":
            command.add_argument(
                "--allow-private", action="store_true", help="allow private/loopback receivers"
            )

    _db_parser(commands)
    keys = commands.add_parser("keys", help="signing key tools")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_commands.add_parser("new", help="print a fresh 256-bit secret as hex")
    return parser


def _simulate_parser(commands: Any) -> None:
    """``affiliate-sdk simulate``: a scenario, or the adversary pack's runs."""
    simulate = commands.add_parser(
        "simulate", help="play a seeded scenario with labelled fraud and evaluate the fraud engine"
    )
    simulate.add_argument(
        "--scenario",
        default="default",
        help="a preset (default, singles_day, fraud_heavy, honest, small) or a JSON scenario file",
    )
    simulate.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    simulate.add_argument("--store", choices=("memory", "sqlite"), default=None)
    simulate.add_argument("--days", type=_positive, default=None, help="override the days")
    simulate.add_argument("--json", action="store_true", help="print the figures as JSON")
    simulate.add_argument("--quiet", action="store_true", help="no progress on stderr")
    simulate.add_argument(
        "--pack",
        choices=("tuning", "spent", "held_out"),
        default=None,
        help="play the adversary pack's runs of this split instead of a scenario",
    )
    simulate.add_argument("--run", default=None, help="with --pack: only the run of this name")


def _db_parser(commands: Any) -> None:
    db = commands.add_parser("db", help="the PostgreSQL store's schema migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply the migrations a database lacks")
    upgrade.add_argument("--url", required=True, help="postgresql://user@host:5432/db")
    sql = db_commands.add_parser("sql", help="print the migrations as SQL")
    sql.add_argument("--from-version", type=int, default=0, help="the version the database is at")
    for command in (upgrade, sql):
        command.add_argument(
            "--schema", default=None, help="the PostgreSQL schema (default: affiliate_sdk)"
        )


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
        elif args.command == "simulate":
            return _simulate(args)
        elif args.command == "webhooks":
            return _webhooks(args)
        elif args.command == "db":
            return _db(args)
        elif args.command == "keys":
            print(secrets.token_hex(MIN_SECRET_BYTES))
    except AffiliateError as exc:
        print(f"affiliate-sdk: {exc}", file=sys.stderr)
        return 1
    return 0


def _db(args: argparse.Namespace) -> int:
    from affiliate_sdk.storage.postgres._schema import DEFAULT_SCHEMA, SCHEMA_VERSION, script

    if args.db_command == "sql":
        if not 0 <= args.from_version <= SCHEMA_VERSION:
            print(f"affiliate-sdk: --from-version must be 0 to {SCHEMA_VERSION}", file=sys.stderr)
            return 2
        print(script(args.schema or DEFAULT_SCHEMA, from_version=args.from_version), end="")
        return 0
    from affiliate_sdk.storage import postgres_options
    from affiliate_sdk.storage.postgres import upgrade_url

    conninfo, ours = postgres_options(
        args.url, ("schema", "pool_size", "chains"), "'postgresql://user@host/db'"
    )
    schema = args.schema or ours.get("schema", DEFAULT_SCHEMA)
    chains = ours.get("chains")
    if chains is not None and not chains.isdigit():
        print(f"affiliate-sdk: ?chains= must be a number, not {chains!r}", file=sys.stderr)
        return 2
    before, after = upgrade_url(conninfo, schema, chains=None if chains is None else int(chains))
    if before == after:
        print(f"schema {schema}: at version {after}, nothing to do")
    else:
        print(f"schema {schema}: version {before} -> {after}")
    return 0


def _webhooks(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime, timedelta

    from affiliate_sdk.alliance import Alliance
    from affiliate_sdk.storage.rows import DeliveryCursor
    from affiliate_sdk.tracking.keys import Keyring

    if args.db is not None and not args.db.is_file():
        print(f"affiliate-sdk: no database at {args.db}", file=sys.stderr)
        return 2
    # The alliance's keys open its sealed secrets (AFFILIATE_SDK_KEYS="id=hex,id=hex").
    if not os.environ.get("AFFILIATE_SDK_KEYS", "").strip(" ,"):
        print("affiliate-sdk: set AFFILIATE_SDK_KEYS to the alliance's keys", file=sys.stderr)
        return 2
    keys = Keyring.from_environment()
    url = args.url if args.db is None else f"sqlite:///{args.db}"
    with Alliance.open(url, keys=keys) as alliance:
        command = args.hooks_command
        if command == "list":
            for sub in alliance.subscriptions():
                with alliance.store.reader() as tx:
                    found = tx.webhooks.cursor(sub.scope, sub.subscription_id)
                state = found or DeliveryCursor()
                dead = alliance.dead_letters(sub.subscription_id, scope=sub.scope)
                status = "active" if sub.active else f"disabled ({sub.disabled_reason})"
                owner = sub.owner + (f"/{sub.owner_id}" if sub.owner_id else "")
                print(
                    f"{sub.subscription_id}  {owner}  {sub.url}  {status}  cursor {state.cursor}"
                    f"  attempts {state.attempts}  dead letters {len(dead)}"
                )
        elif command == "dispatch":
            dispatcher = alliance.dispatcher(allow_private=args.allow_private)
            try:
                print(json.dumps(dispatcher.run_once()._asdict()))
            finally:
                dispatcher.close()
        elif command == "retry":
            if args.event:
                count = alliance.replay(args.subscription, event_id=args.event)
                print(f"{args.subscription}: {count} event(s) will be delivered again")
            else:
                alliance.enable(args.subscription)
                alliance.retry_now(args.subscription)
                print(f"{args.subscription}: enabled, due now")
        elif command == "prune":
            gone = alliance.prune_outbox(older_than=timedelta(days=args.days))
            print(f"{gone} event(s) pruned")
        else:
            if bool(args.event) == bool(args.since):
                print("affiliate-sdk: replay takes --event or --since", file=sys.stderr)
                return 2
            since = datetime.fromisoformat(args.since) if args.since else None
            count = alliance.replay(args.subscription, event_id=args.event, since=since)
            print(f"{args.subscription}: {count} event(s) will be delivered again")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from affiliate_sdk.simulation import PRESETS, Scenario, simulate

    if args.pack is not None:
        return _simulate_pack(args)
    if args.scenario in PRESETS:
        scenario = PRESETS[args.scenario]
    else:
        path = Path(args.scenario)
        if not path.is_file():
            names = ", ".join(PRESETS)
            print(
                f"affiliate-sdk: no preset or file {args.scenario!r} (presets: {names})",
                file=sys.stderr,
            )
            return 2
        try:
            scenario = Scenario.model_validate_json(path.read_text())
        except ValueError as exc:
            print(f"affiliate-sdk: {path} is not a valid scenario: {exc}", file=sys.stderr)
            return 2
    update = {
        name: value
        for name, value in (("seed", args.seed), ("store", args.store), ("days", args.days))
        if value is not None
    }
    scenario = scenario.model_copy(update=update)

    evaluation = simulate(scenario, progress=None if args.quiet else _progress)
    print(evaluation.model_dump_json(indent=2) if args.json else evaluation.render())
    return 0


def _progress(done: int, total: int) -> None:
    print(
        f"\r  {done:,} / {total:,} events",
        end="" if done < total else "\n",
        file=sys.stderr,
        flush=True,
    )


def _simulate_pack(args: argparse.Namespace) -> int:
    from affiliate_sdk.simulation import render_runs, runs, simulate_runs

    chosen = runs(args.pack)
    if args.run is not None:
        chosen = tuple(run for run in chosen if run.name == args.run)
        if not chosen:
            names = ", ".join(run.name for run in runs(args.pack))
            print(f"affiliate-sdk: no run {args.run!r} in {args.pack} ({names})", file=sys.stderr)
            return 2
    if args.store is not None:
        chosen = tuple(run.model_copy(update={"store": args.store}) for run in chosen)
    each, whole = simulate_runs(chosen, progress=None if args.quiet else _progress)
    if args.json:
        print(json.dumps({"runs": [e.model_dump(mode="json") for e in each],
                          "together": whole.model_dump(mode="json")}, indent=2))  # fmt: skip
    else:
        print(render_runs(each, whole))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
