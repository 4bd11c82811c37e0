"""``xueliang web run`` (the web process) and ``xueliang web user add`` (accounts)."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys

from xueliang.settings import Settings

log = logging.getLogger("web.cli")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("web", help="the web/API process and user accounts")
    web_sub = parser.add_subparsers(dest="web_command", required=True, metavar="ACTION")

    run = web_sub.add_parser("run", help="serve the API, WebSocket and pages (uvicorn)")
    run.add_argument("--host", default=None, help="default: XUELIANG_WEB_HOST or 127.0.0.1")
    run.add_argument("--port", type=int, default=None, help="default: XUELIANG_WEB_PORT or 8000")
    run.add_argument("--demo-key", action="store_true",
                     help="without XUELIANG_SECRET_KEY, use the demo key persisted under the data dir (never in production)")
    run.add_argument("--secure-cookie", action="store_true", help="mark the session cookie Secure (behind HTTPS)")
    run.set_defaults(func=run_web)

    user = web_sub.add_parser("user-add", help="create an account (password from --password-env or the prompt)")
    user.add_argument("username")
    user.add_argument("--role", required=True,
                      choices=["admin", "county_operator", "township_operator", "village_operator", "responder", "viewer"])
    user.add_argument("--jurisdiction", required=True, help="jurisdiction code, e.g. 330381101")
    user.add_argument("--display-name", default="")
    user.add_argument("--responder-id", type=int, default=None)
    user.add_argument("--password-env", default=None, help="read the password from this environment variable")
    user.set_defaults(func=add_user)


def run_web(args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import ConfigError, create_app

    from web.access_log import install_log_filters
    from xueliang.runtime.logs import reformat_handlers

    settings = Settings()
    if args.demo_key and not settings.secret_key:
        settings = settings.model_copy(update={"secret_key": settings.demo_secret_key()})
    try:
        app = create_app(settings, cookie_secure=args.secure_cookie)
    except ConfigError as exc:
        print(f"xueliang web run: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    # uvicorn turns SIGINT/SIGTERM into a graceful shutdown (lifespan exit closes Redis and the DB).
    config = uvicorn.Config(app, host=host, port=port, log_level=settings.log_level.lower(),
                            proxy_headers=False, ws_max_size=64 * 1024, timeout_graceful_shutdown=5,
                            access_log=False)  # web.access_log logs paths without query strings (tokens)
    install_log_filters()  # after uvicorn.Config, which installs its own handlers: one line per record, no tokens
    reformat_handlers(("uvicorn", "uvicorn.error", "uvicorn.access"), args.log_format)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to the
    # handler that was installed before it; make that a no-op so a requested stop exits 0.
    stopped_by: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stopped_by.append(signum))
    server.run()
    if stopped_by:
        log.info("web stopped by %s", signal.Signals(stopped_by[0]).name)
    return 0 if server.started or stopped_by else 1


def add_user(args: argparse.Namespace) -> int:
    from command import open_database
    from command import AccountError, create_user

    from web.auth import hash_password

    password = os.environ.get(args.password_env, "") if args.password_env else getpass.getpass("password: ")
    if len(password) < 8:
        print("password must be at least 8 characters", file=sys.stderr)
        return 2
    database = open_database(Settings().resolved_database_url())
    try:
        with database.session() as session:
            create_user(session, args.username, hash_password(password), args.role, args.jurisdiction,
                        display_name=args.display_name, responder_id=args.responder_id)
    except (AccountError, ValueError) as exc:
        print(f"cannot create user: {exc}", file=sys.stderr)
        return 2
    finally:
        database.dispose()
    print(f"created {args.username} ({args.role}, {args.jurisdiction})")
    return 0
