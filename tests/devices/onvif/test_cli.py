"""``xueliang discover``: listing, registry entries with ${ENV} credentials, bad devices never stop the others."""

from __future__ import annotations

import argparse
import json

import pytest

from devices.onvif import cli as onvif_cli


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="xueliang")
    sub = parser.add_subparsers(dest="command", required=True)
    onvif_cli.register(sub)
    args = parser.parse_args(["discover", *argv])
    return args.func(args)


def test_discover_by_unicast_lists_the_device(make_sim, monkeypatch, capsys):
    sim = make_sim(discovery=True, model="XL-PTZ-200")
    monkeypatch.setenv("TEST_ONVIF_PW", sim.config.password)
    rc = run(["--host", "127.0.0.1", "--port", str(sim.discovery_port), "--timeout", "2", "--username", "admin", "--password-env", "TEST_ONVIF_PW"])
    out = capsys.readouterr().out
    assert rc == 0
    assert sim.device_url in out
    assert "vendor XLSim  model XL-PTZ-200  firmware V5.7.3 build 251101" in out
    assert "main   rtsp://127.0.0.1:8554/cam01" in out and "sub    rtsp://127.0.0.1:8554/cam02" in out
    assert "PTZ    yes" in out and "status online" in out
    assert sim.config.password not in out


def test_write_produces_registry_entries_with_env_references(make_sim, monkeypatch, tmp_path, capsys, rtsp_server):
    from devices import load_registry

    ptz = make_sim(serial="PTZ-1", main_stream=rtsp_server.url("cam01"), sub_stream=rtsp_server.url("cam02"))
    fixed = make_sim(serial="FIX-2", ptz=False, model="XL-FIX-100")
    monkeypatch.setenv("ONVIF_PASSWORD", ptz.config.password)
    out = tmp_path / "discovered.yaml"
    rc = run(["--url", ptz.device_url, "--url", fixed.device_url, "--username", "admin", "--write", str(out),
              "--jurisdiction", "330381101", "--position", "27.78,120.65"])
    assert rc == 0, capsys.readouterr().err
    text = out.read_text()
    assert ptz.config.password not in text
    registry = load_registry(out)  # the real registry loader accepts it
    cams = registry.cameras
    assert set(cams) == {"onvif-PTZ-1", "onvif-FIX-2"}
    cam = cams["onvif-PTZ-1"]
    assert cam.kind.value == "ptz" and cams["onvif-FIX-2"].kind.value == "fixed"
    assert cam.onvif is not None and cam.onvif.password == "${ONVIF_PASSWORD}" and cam.onvif.url == ptz.device_url
    assert cam.streams.main == f"rtsp://admin:${{ONVIF_PASSWORD}}@127.0.0.1:{rtsp_server.port}/cam01"
    assert cam.jurisdiction == "330381101" and (cam.position.lat, cam.position.lon) == (27.78, 120.65)
    assert cam.vendor == "XLSim" and "needs-survey" in cam.tags
    # resolved only when connecting, from the environment
    assert cam.onvif_credentials() == ("admin", ptz.config.password)


def test_a_dead_and_a_wrongly_configured_device_do_not_stop_the_others(make_sim, monkeypatch, silent_tcp_server, tmp_path, capsys):
    good = make_sim(serial="GOOD-1")
    locked = make_sim(serial="LOCKED", password="another-password")
    monkeypatch.setenv("ONVIF_PASSWORD", good.config.password)
    out = tmp_path / "d.yaml"
    rc = run(["--url", good.device_url, "--url", locked.device_url, "--url", silent_tcp_server, "--timeout", "1",
              "--json", "--write", str(out), "--jurisdiction", "330381"])
    captured = capsys.readouterr()
    assert rc == 0
    statuses = {d["device_url"]: d["status"] for d in json.loads(captured.out)["devices"]}
    assert statuses == {good.device_url: "online", locked.device_url: "auth_failed", silent_tcp_server: "offline"}
    assert "onvif-GOOD-1" in out.read_text() and "LOCKED" not in out.read_text()
    assert "skipped" in captured.err and good.config.password not in captured.out + captured.err


def test_write_refuses_to_clobber_an_existing_file(tmp_path, capsys):
    existing = tmp_path / "cameras.yaml"
    existing.write_text("keep me")
    assert run(["--url", "http://127.0.0.1:9/onvif/device_service", "--write", str(existing)]) == 2
    assert existing.read_text() == "keep me"
    assert "exists" in capsys.readouterr().err


def test_nothing_answered_exits_non_zero(capsys):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert run(["--host", "127.0.0.1", "--port", str(port), "--timeout", "0.3"]) == 1
    assert "no ONVIF device answered" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["27.7", "a,b"])
def test_bad_position_is_a_clear_error(bad):
    with pytest.raises(SystemExit, match="LAT,LON"):
        run(["--url", "http://127.0.0.1:9/x", "--position", bad])


def test_top_level_xueliang_cli_wires_discover_and_onvif(make_sim, monkeypatch, capsys):
    from xueliang.cli import main

    sim = make_sim(discovery=True)
    monkeypatch.setenv("ONVIF_PASSWORD", sim.config.password)
    assert main(["discover", "--host", "127.0.0.1", "--port", str(sim.discovery_port), "--timeout", "2", "--json"]) == 0
    (device,) = json.loads(capsys.readouterr().out)["devices"]
    assert device["status"] == "online" and device["ptz"] is True
    assert main(["onvif", "info", sim.device_url]) == 0
    assert "XL-PTZ-200" in capsys.readouterr().out
