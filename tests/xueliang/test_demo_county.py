"""A coherent demo county: cameras.yaml and the seed agree (names, positions inside boundaries);
`xueliang demo --rtsp-port N` uses N or fails with a sentence; data under the working directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from command import Jurisdiction, open_database
from command.jurisdictions import locate
from command.seed import PlacedCamera, camera_position_problems, seed_demo
from devices import load_registry
from xueliang.demo import cameras_for_port, sample_mount_names
from xueliang.settings import REPO_ROOT, Settings

CAMERAS = REPO_ROOT / "configs" / "cameras.yaml"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    database = open_database(f"sqlite:///{tmp_path_factory.mktemp('county') / 'x.db'}", upgrade=True)
    with database.session() as session:
        seed_demo(session)
    yield database
    database.dispose()


def _placed() -> list[PlacedCamera]:
    return [PlacedCamera(c.id, c.name, str(c.jurisdiction), c.position.lat, c.position.lon)
            for c in load_registry(CAMERAS).cameras.values()]


def test_every_demo_camera_sits_in_its_seeded_jurisdiction(seeded) -> None:
    cameras = _placed()
    assert len(cameras) >= 8
    with seeded.session() as session:
        assert camera_position_problems(session, cameras) == []
        county = session.get(Jurisdiction, "330381").name
        for cam in cameras:
            located = locate(session, cam.lat, cam.lon)
            assert located is not None and located.startswith(cam.jurisdiction_code), (cam, located)
            if len(cam.jurisdiction_code) >= 9:  # the name starts with the seeded township's name
                assert cam.name.startswith(session.get(Jurisdiction, cam.jurisdiction_code[:9]).name), cam
            else:
                assert cam.name.startswith(county), cam


def test_a_misplaced_or_misnamed_camera_is_reported(seeded) -> None:
    with seeded.session() as session:
        village = session.get(Jurisdiction, "330381101201")
        far = PlacedCamera("x1", "东城街道 测试", "330381101201", village.center_lat + 0.3, village.center_lon)
        wrong_name = PlacedCamera("x2", "城关镇 人民广场", "330381101201", village.center_lat, village.center_lon)
        unknown = PlacedCamera("x3", "东城街道 测试", "330381199999", None, None)
        problems = camera_position_problems(session, [far, wrong_name, unknown])
    assert len(problems) == 3
    assert "x1" in problems[0] and "不在其辖区 前山村" in problems[0]
    assert "x2" in problems[1] and "不一致" in problems[1]
    assert "330381199999 不存在" in problems[2]


def test_grids_tile_their_village(seeded) -> None:
    """Every point of a village lies in one of its grids (a grid worker's position locates to a grid)."""
    with seeded.session() as session:
        village = session.get(Jurisdiction, "330381101201")
        (lon0, lat0), (lon1, _), (_, lat1) = village.boundary[0], village.boundary[1], village.boundary[2]
        for fx in (0.05, 0.5, 0.95):
            for fy in (0.05, 0.5, 0.95):
                code = locate(session, lat0 + fy * (lat1 - lat0), lon0 + fx * (lon1 - lon0))
                assert code is not None and len(code) == 15 and code.startswith("330381101201"), (fx, fy, code)


def test_rtsp_port_rewrites_the_sample_urls(tmp_path: Path) -> None:
    moved = cameras_for_port(CAMERAS, 8654, tmp_path)
    assert moved != CAMERAS and "127.0.0.1:8554" not in moved.read_text(encoding="utf-8")
    assert sample_mount_names(moved, 8654) == sample_mount_names(CAMERAS, 8554) == ["cam01", "cam02", "cam03", "cam04"]
    assert cameras_for_port(CAMERAS, 8554, tmp_path) == CAMERAS


def test_demo_on_a_taken_rtsp_port_fails_with_a_sentence_and_keeps_data_in_the_working_directory(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XUELIANG_", "REDIS_URL", "DATABASE_URL"))}
        web_port = _free_port()
        done = subprocess.run([sys.executable, "-m", "xueliang.cli", "demo", "--rtsp-port", str(port),
                               "--web-port", str(web_port)], cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO_ROOT)},
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"端口 {port} 已被占用" in done.stderr and "--rtsp-port" in done.stderr
    assert (tmp_path / "data").is_dir() and (tmp_path / "data" / "cameras.demo.yaml").is_file()


def test_data_dir_defaults_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XUELIANG_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().data_dir == tmp_path / "data"
    monkeypatch.setenv("XUELIANG_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings().data_dir == tmp_path / "elsewhere"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
