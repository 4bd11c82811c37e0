"""PTZ against the simulator: continuous move/stop, absolute move, presets, capability checks."""

from __future__ import annotations

import time

import pytest

from devices.onvif import OnvifCamera, OnvifNotSupported


def camera_for(sim) -> OnvifCamera:
    return OnvifCamera(sim.device_url, sim.config.username, sim.config.password, timeout=3.0)


def test_continuous_move_pans_until_stop(sim):
    with camera_for(sim) as cam:
        assert cam.has_ptz()
        before = cam.ptz_status().position
        cam.continuous_move(pan=1.0, tilt=-0.5)
        moving = cam.ptz_status()
        time.sleep(0.3)
        cam.stop()
        stopped = cam.ptz_status()
        time.sleep(0.2)
        later = cam.ptz_status()
    assert before is not None and stopped.position is not None and later.position is not None
    assert moving.moving and not stopped.moving
    assert stopped.position.pan > before.pan + 0.1  # full speed is half the range per second
    assert stopped.position.tilt < before.tilt - 0.05
    assert later.position == stopped.position  # really stopped


def test_continuous_move_with_timeout_stops_by_itself(sim):
    with camera_for(sim) as cam:
        cam.continuous_move(zoom=1.0, timeout_s=0.2)
        time.sleep(0.4)
        status = cam.ptz_status()
    assert not status.moving
    assert status.position is not None and 0.05 < status.position.zoom < 0.2


def test_absolute_move_and_presets_round_trip(sim):
    with camera_for(sim) as cam:
        cam.absolute_move(0.25, -0.4, 0.6)
        token = cam.set_preset("东门")
        cam.absolute_move(-0.9, 0.9, 0.0)
        presets = cam.presets()
        cam.goto_preset(token)
        position = cam.ptz_status().position
    assert [(p.token, p.name) for p in presets] == [(token, "东门")]
    assert position is not None
    assert (round(position.pan, 3), round(position.tilt, 3), round(position.zoom, 3)) == (0.25, -0.4, 0.6)


def test_velocity_is_clamped_to_the_normalised_range(sim):
    with camera_for(sim) as cam:
        cam.continuous_move(pan=25.0, timeout_s=0.2)
        time.sleep(0.3)
        pan = cam.ptz_status().position.pan
    assert pan <= 0.12  # 0.2 s at speed 1.0 (not 25) is 0.1 of the range


def test_absolute_move_refused_when_the_node_has_no_absolute_space(make_sim):
    sim = make_sim(absolute_ptz=False)
    with camera_for(sim) as cam:
        nodes = cam.ptz_nodes()
        with pytest.raises(OnvifNotSupported) as err:
            cam.absolute_move(0.1, 0.1)
        cam.continuous_move(pan=0.5)  # continuous moves still work
        cam.stop()
    assert nodes and not nodes[0].absolute and nodes[0].continuous
    assert "absolute position space" in str(err.value)
    assert "AbsoluteMove" not in sim.requests


def test_goto_unknown_preset_is_a_protocol_error_from_the_device(sim):
    from devices.onvif import OnvifProtocolError

    with camera_for(sim) as cam, pytest.raises(OnvifProtocolError) as err:
        cam.goto_preset("nope")
    assert "GotoPreset" in str(err.value) and "NoToken" in str(err.value)
