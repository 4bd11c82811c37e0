"""``xueliang onvif info|move|presets|goto|set-preset|events`` against the simulator via a registry file."""

from __future__ import annotations

import argparse
import json
import threading

import pytest

from devices.onvif import cli as onvif_cli
from tests.devices.onvif.conftest import gate_ptz_registry

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="xueliang")
    sub = parser.add_subparsers(dest="command", required=True)
    onvif_cli.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture()
def registry_file(sim, tmp_path, monkeypatch):
    path = tmp_path / "cameras.yaml"
    path.write_text(gate_ptz_registry(sim.device_url, frame=None), encoding="utf-8")
    monkeypatch.setenv("GATE_ONVIF_PASSWORD", sim.config.password)
    return path


def test_info_by_registry_id(registry_file, sim, capsys):
    assert run(["onvif", "info", "gate-ptz", "--file", str(registry_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["manufacturer"], data["model"], data["ptz"], data["events"]) == ("XLSim", "XL-PTZ-200", True, True)
    assert data["streams"] == {"main": "rtsp://127.0.0.1:8554/cam01", "sub": "rtsp://127.0.0.1:8554/cam02"}


def test_move_then_presets_round_trip(registry_file, sim, capsys):
    f = ["--file", str(registry_file)]
    assert run(["onvif", "move", "gate-ptz", *f, "--pan", "1", "--seconds", "0.2"]) == 0
    pan_after_move = sim.position()[0]
    assert 0.05 < pan_after_move < 0.3 and not sim.moving()
    assert run(["onvif", "set-preset", "gate-ptz", *f, "东门"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    sim.pan = -0.8
    assert run(["onvif", "presets", "gate-ptz", *f]) == 0
    assert "东门" in capsys.readouterr().out
    assert run(["onvif", "goto", "gate-ptz", *f, token]) == 0
    assert sim.position()[0] == pytest.approx(pan_after_move, abs=1e-3)


def test_events_prints_alarms(registry_file, sim, capsys):
    timer = threading.Timer(0.5, sim.emit_event, args=(MOTION, {"IsMotion": "true"}))
    timer.start()
    assert run(["onvif", "events", "gate-ptz", "--file", str(registry_file), "--seconds", "1.5"]) == 0
    timer.join()
    out = capsys.readouterr().out
    assert "motion" in out and MOTION in out


def test_wrong_password_exits_1_with_a_clear_error(registry_file, sim, monkeypatch, capsys):
    monkeypatch.setenv("GATE_ONVIF_PASSWORD", "not-it")
    assert run(["onvif", "info", "gate-ptz", "--file", str(registry_file)]) == 1
    err = capsys.readouterr().err
    assert "credentials rejected" in err and "not-it" not in err


def test_missing_secret_names_the_variable(registry_file, monkeypatch):
    monkeypatch.delenv("GATE_ONVIF_PASSWORD")
    with pytest.raises(SystemExit, match="GATE_ONVIF_PASSWORD"):
        run(["onvif", "info", "gate-ptz", "--file", str(registry_file)])


def test_unknown_camera_id(registry_file):
    with pytest.raises(SystemExit, match="no camera 'nope'"):
        run(["onvif", "info", "nope", "--file", str(registry_file)])


def test_fixed_camera_move_is_refused(make_sim, monkeypatch, capsys):
    sim = make_sim(ptz=False)
    monkeypatch.setenv("ONVIF_PASSWORD", sim.config.password)
    assert run(["onvif", "move", sim.device_url, "--pan", "0.5"]) == 1
    assert "no PTZ service" in capsys.readouterr().err
