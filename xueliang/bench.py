"""``xueliang bench <area> [--json] [--quick]``: each package contributes its benchmark.

A package with a benchmark exposes ``<package>.bench.register(subparsers)``.
"""

from __future__ import annotations

import argparse

from xueliang.cli import register_modules

BENCH_MODULES = ("ingest.bench", "analytics.bench", "analytics.cluster.bench", "command.bench", "web.bench", "devices.bench", "xueliang.gb28181_bench", "web.search_bench", "web.operator_shift", "xueliang.chaos")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="side-by-side benchmarks (ratios measured in one run)")
    bench_sub = parser.add_subparsers(dest="bench", required=True, metavar="AREA")
    register_modules(bench_sub, BENCH_MODULES)
