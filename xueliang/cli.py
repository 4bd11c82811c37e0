"""``xueliang`` command line: the composition root that wires the packages into processes.

Each domain package contributes its own sub-commands through ``<package>.cli.register``
so this file only lists them; the long-running deployment lives in :mod:`xueliang.demo`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from xueliang.runtime.logs import configure_logging

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")

# Packages whose ``cli.register(subparsers)`` adds sub-commands, in help order.
COMMAND_PACKAGES = ("xueliang.demo", "xueliang.onvif_alarms", "xueliang.gb28181_worker", "xueliang.mobile_worker", "devices.cli", "ingest.cli", "analytics.cli", "command.cli", "web.cli", "xueliang.bench")


def register_modules(sub: argparse._SubParsersAction, module_names: Sequence[str]) -> None:
    """Let each named module add its sub-commands: ``module.register(sub)``."""
    for module_name in module_names:
        importlib.import_module(module_name).register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xueliang", description="雪亮 video surveillance and command centre")
    parser.add_argument("--log-level", default=os.environ.get("XUELIANG_LOG_LEVEL", "INFO"))
    parser.add_argument("--log-format", choices=("text", "json"), default=os.environ.get("XUELIANG_LOG_FORMAT", "text"),
                        help="text lines (default) or one JSON object per line (XUELIANG_LOG_FORMAT)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_modules(sub, COMMAND_PACKAGES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    # Alembic announces each of its autogenerate plugins at INFO on every upgrade: noise for operators.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, logging.getLogger().level))
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
