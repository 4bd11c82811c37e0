"""The operator-shift acceptance test: the real `xueliang demo`, driven only through its pages.

`xueliang bench operator` starts the real demo (sample cameras over RTSP, YOLO on the footage,
the command and web workers as processes) and plays a county operator (wall + desk), a township
operator, a police responder on a 390×844 phone and a grid worker in headless Chromium, inside a
network namespace (WebRTC). Screenshots of every step go to test-artifacts/operator-shift/.
The figures asserted here are what the pages showed (see web/operator_shift.py for each step).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from web.live.netns import netns_unavailable_reason
from xueliang.settings import REPO_ROOT

pytestmark = pytest.mark.netns


def _run_shift(artifacts_dir: Path, *extra: str, timeout: float) -> dict:
    reason = netns_unavailable_reason()
    if reason:
        pytest.skip(reason)
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium); run scripts/setup.sh")
    shots = artifacts_dir / "operator-shift"
    proc = subprocess.run([sys.executable, "-m", "xueliang.cli", "bench", "operator", "--json", "--shots", str(shots), *extra],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"no JSON from the bench (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1])
    print(json.dumps({k: v for k, v in result.items() if k not in ("steps", "demo_logs")}, ensure_ascii=False, indent=1))
    assert "error" not in result, result.get("error", "") + "\n" + result.get("demo_logs", "")[-3000:]
    return result


def _assert_shift(result: dict) -> None:
    failed = "\n".join(f"- {f['step']}: {f['error']}" for f in result["failed"])
    assert result["steps_passed"] == result["steps_total"], f"failed steps:\n{failed}"
    assert result["forms_survived"] is True
    assert result["duplicate_effects"] == 0
    assert result["wall_tiles_playing"] >= 4
    assert result["wall_tiles_alarmed"] >= 1
    assert result["wall_alarmed_tiles_decoding"] == result["wall_tiles_alarmed"]
    assert result["media_mb_per_hour"] <= 300
    # the selected incident took >= 4 pushes a second (its camera's own alerts, echoed) while forms were open
    assert result["pushes_per_s_on_selected"] >= 4


def test_operator_shift_quick(artifacts_dir: Path) -> None:
    """The whole loop once on the live demo; about 3 minutes."""
    result = _run_shift(artifacts_dir, "--quick", timeout=600)
    _assert_shift(result)


@pytest.mark.slow
def test_operator_shift_ten_minutes(artifacts_dir: Path) -> None:
    """The loop, then 10 minutes of alerts while a form stays open and the wall keeps playing."""
    result = _run_shift(artifacts_dir, "--minutes", "10", timeout=1800)
    _assert_shift(result)
