"""``xueliang bench gb28181 --quick`` end to end (device generator in a child process, real UDP on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(180)


def test_gb28181_bench_quick_reports_every_figure() -> None:
    env = os.environ | {"XUELIANG_LOG_LEVEL": "WARNING"}
    out = subprocess.run([sys.executable, "-m", "xueliang.cli", "--log-level", "WARNING", "bench", "gb28181", "--quick", "--json"],
                         capture_output=True, text=True, timeout=170, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["devices_registered"] == r["devices"] == 1000
    assert r["lost_keepalives"] == 0 and r["keepalives_sent"] == 2000
    assert r["catalog_channels"] == 10 * 300 and r["registry_gb_channels"] == 3000 and r["registry_channels"] == 10_000
    inv = r["invite_to_first_frame_s"]
    assert inv["samples"] == inv["of"] == 4 and 0 < inv["p50"] <= inv["p95"] < 10
    for key in ("register_per_s", "keepalive_cpu_pct", "rss_mb_per_1000_devices", "catalog_ingest_s", "registry_load_index_s"):
        assert isinstance(r[key], (int, float)) and r[key] >= 0, key
