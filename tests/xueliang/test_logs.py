"""``XUELIANG_LOG_FORMAT=json``: every line a process writes is one JSON object a log shipper can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xueliang.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_json_log_lines_are_objects_with_level_logger_and_event(tmp_path):
    done = _run(["db", "upgrade", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"], XUELIANG_LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, done
    records = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    migrations = [r for r in records if r["logger"] == "alembic.runtime.migration"]
    assert migrations and {"timestamp", "level", "event"} <= migrations[0].keys(), records
    assert migrations[0]["level"] == "info" and migrations[0]["timestamp"].endswith("Z")


def test_an_unknown_log_format_is_refused_with_a_sentence():
    done = _run(["cameras", "validate", "configs/cameras.yaml"], XUELIANG_LOG_FORMAT="xml")
    assert done.returncode != 0 and "json" in done.stderr and "Traceback" not in done.stderr
