"""The real ``xueliang`` console script on the repo's registry and on a broken copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from xueliang.settings import REPO_ROOT

CAMERAS = REPO_ROOT / "configs" / "cameras.yaml"


def xueliang(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "xueliang.cli", *args], capture_output=True, text=True,
                          timeout=120, env=full_env, cwd=REPO_ROOT, check=False)


def test_validate_repo_file_prints_summary() -> None:
    result = xueliang("cameras", "validate", str(CAMERAS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK, 9 channels" in result.stdout
    assert "fixed 6, ptz 1, drone 1, 4g_terminal 1" in result.stdout
    assert "continuous 4, patrol 3, off 2" in result.stdout
    assert "330381101201" in result.stdout


def test_validate_json_summary() -> None:
    result = xueliang("cameras", "validate", str(CAMERAS), "--json")
    assert result.returncode == 0
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["channels"] == 9 and summary["by_mode"]["continuous"] == 4


def test_validate_broken_copy_prints_every_problem_without_secrets(tmp_path: Path) -> None:
    text = CAMERAS.read_text(encoding="utf-8")
    broken = (
        text.replace("position: {lat: 27.5977, lon: 120.5851}", "position: {lat: 27.5977, lon: east}")
        .replace("password: ${PTZ01_PASSWORD}", "password: TopSecret123")
        .replace("polygon: [[0.03, 0.05], [0.97, 0.05], [0.97, 0.97], [0.03, 0.97]]\n    rules:\n      - {id: school-gate",
                 "polygon: [[0.03, 0.05], [1.97, 0.05], [0.97, 0.97], [0.03, 0.97]]\n    rules:\n      - {id: school-gate", 1)
        .replace("  - id: cam04\n", "  - id: cam03\n")
        .replace("    tags: [demo, market]\n", "    tags: [demo, market]\n    owner: 张三\n")
    )
    assert broken.count("TopSecret123") == 1 and "lon: east" in broken and "1.97" in broken
    path = tmp_path / "cameras.yaml"
    path.write_text(broken, encoding="utf-8")
    lines = broken.splitlines()

    def line(needle: str, start: int = 0) -> int:
        return next(n for n, t in enumerate(lines, 1) if needle in t and n > start)

    result = xueliang("cameras", "validate", str(path))
    assert result.returncode == 1
    out = result.stdout.splitlines()
    expected = [
        f"{path}:{line('lon: east')}: cameras[1].position.lon: ",
        f"{path}:{line('1.97')}: cameras[2].zones[0].polygon[1]: point [1.97, 0.05] is outside the frame",
        f"{path}:{line('- id: cam03', line('- id: cam03'))}: cameras[3].id: duplicate camera id 'cam03' (first defined at line {line('- id: cam03')})",
        f"{path}:{line('owner:')}: cameras[3].owner: unknown key 'owner'",
        f"{path}:{line('TopSecret123')}: cameras[6].onvif.password: plain-text password",
    ]
    for prefix in expected:
        assert any(o.startswith(prefix) for o in out), (prefix, out)
    assert len(out) == len(expected), out
    assert "TopSecret123" not in result.stdout + result.stderr
    assert "5 problems" in result.stderr


def test_list_filters_and_masks() -> None:
    result = xueliang("cameras", "list", "--file", str(CAMERAS), "--jurisdiction", "330381103", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == ["cam03", "ptz01"]
    assert rows[1]["onvif"]["password"] == "***"
    table = xueliang("cameras", "list", "--file", str(CAMERAS), "--kind", "drone")
    assert table.returncode == 0 and "uav01" in table.stdout and "cam01" not in table.stdout


def test_check_against_the_sample_rtsp_server(rtsp_server, tmp_path: Path) -> None:  # noqa: ANN001 - shared fixture
    text = CAMERAS.read_text(encoding="utf-8").replace("rtsp://127.0.0.1:8554/", f"rtsp://127.0.0.1:{rtsp_server.port}/")
    path = tmp_path / "cameras.yaml"
    path.write_text(text, encoding="utf-8")
    result = xueliang("cameras", "check", "--file", str(path), "--id", "cam01", "--id", "cam02", "--samples", "6", "--json")
    reports = {r["camera_id"]: r for r in json.loads(result.stdout)}
    assert result.returncode == 0, result.stdout + result.stderr
    assert {cid: r["status"] for cid, r in reports.items()} == {"cam01": "online", "cam02": "online"}
    assert reports["cam01"]["jurisdiction_code"] == "330381101201" and reports["cam01"]["last_frame_at"]

    text = text.replace(f"rtsp://127.0.0.1:{rtsp_server.port}/cam02", "rtsp://127.0.0.1:9/cam02")
    path.write_text(text, encoding="utf-8")
    table = xueliang("cameras", "check", "--file", str(path), "--id", "cam02", "--samples", "2", "--timeout", "3")
    assert table.returncode == 3, "a channel is not online"
    assert "cam02" in table.stdout and "offline" in table.stdout and "1 channels: offline 1" in table.stderr
