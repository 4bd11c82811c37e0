"""``xueliang bench <area> [--json] [--quick]``: each package contributes its benchmark.

A package with a benchmark exposes ``<package>.bench.register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib

BENCH_MODULES = ("ingest.bench", "analytics.bench", "command.bench", "web.bench", "devices.bench")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="side-by-side benchmarks (ratios measured in one run)")
    bench_sub = parser.add_subparsers(dest="bench", required=True, metavar="AREA")
    for module_name in BENCH_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(bench_sub)
