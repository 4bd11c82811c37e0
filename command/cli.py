"""``xueliang db ...``, ``xueliang command run`` and ``xueliang report ...``."""

from __future__ import annotations

import argparse
import sys


def _db_upgrade(args: argparse.Namespace) -> int:
    from command.db import open_database

    database = open_database(args.database_url)
    try:
        database.upgrade(args.revision)
        print(f"database at revision {database.current_revision()}")
    finally:
        database.dispose()
    return 0


def _db_seed_demo(args: argparse.Namespace) -> int:
    from command.db import open_database
    from command.seed import seed_demo

    database = open_database(args.database_url, upgrade=True)
    try:
        with database.session() as session:
            summary = seed_demo(session)
    finally:
        database.dispose()
    print(
        f"seeded: {summary.townships} townships, {summary.villages} villages, {summary.grids} grids, "
        f"{summary.categories} categories, {summary.responders} responders, {summary.users} users"
    )
    if summary.created_users:
        print("created users: " + ", ".join(summary.created_users))
    elif summary.users == 0:
        print("no users created: set XUELIANG_DEMO_PASSWORD to create the demo accounts", file=sys.stderr)
    return 0


def _command_run(args: argparse.Namespace) -> int:
    from command.worker import run_worker

    return run_worker(
        database_url=args.database_url,
        redis_url=args.redis_url,
        consumer_name=args.consumer,
        media_dir=args.media_dir,
        device_fault_grace_s=args.device_fault_grace,
        metrics_port=args.metrics_port,
        claim_idle_s=args.claim_idle,
    )


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database schema and demo data")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="run the Alembic migrations to head")
    upgrade.add_argument("--database-url", default=None, help="default: DATABASE_URL or SQLite under data/")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(func=_db_upgrade)
    seed = db_sub.add_parser("seed-demo", help="seed the demo county, responders and users (XUELIANG_DEMO_PASSWORD)")
    seed.add_argument("--database-url", default=None)
    seed.set_defaults(func=_db_seed_demo)

    cmd = sub.add_parser("command", help="the command-centre worker")
    cmd_sub = cmd.add_subparsers(dest="command_action", required=True, metavar="ACTION")
    run = cmd_sub.add_parser("run", help="consume xl:alerts into incidents and run the SLA/escalation timers")
    run.add_argument("--database-url", default=None)
    run.add_argument("--redis-url", default=None, help="default: REDIS_URL (required: the worker does not start Redis)")
    run.add_argument("--consumer", default=None, help="consumer name in group 'command' (default: host-pid)")
    run.add_argument("--claim-idle", type=float, default=30.0,
                     help="take over alerts a dead worker left pending after this many seconds idle (default 30)")
    run.add_argument("--media-dir", default=None, help="where snapshots are stored (default: Settings.media_dir)")
    run.add_argument("--device-fault-grace", type=float, default=None, metavar="SECONDS",
                     help="a camera in a fault status this long gets a device-fault work order "
                          "(default: XUELIANG_DEVICE_FAULT_GRACE_S or 300)")
    run.add_argument("--metrics-port", type=int, default=None,
                     help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (intake lag, backlog, dead letters, overdue)")
    run.set_defaults(func=_command_run)

    try:
        from command.reports import register_cli
    except ModuleNotFoundError as exc:
        if exc.name != "command.reports":
            raise
    else:
        register_cli(sub)
