"""OnvifCamera against the SOAP device simulator: identity, media, auth, clock offset, broken devices."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from devices.onvif import (
    OnvifAuthError,
    OnvifCamera,
    OnvifConnectionError,
    OnvifNotSupported,
    OnvifProtocolError,
    OnvifTimeout,
)


def camera_for(sim, password: str | None = None, **kwargs) -> OnvifCamera:
    c = sim.config
    return OnvifCamera(sim.device_url, c.username, c.password if password is None else password, timeout=kwargs.pop("timeout", 3.0), **kwargs)


def test_device_information_capabilities_and_profiles(sim):
    with camera_for(sim) as cam:
        caps = cam.connect()
        info = cam.device_information()
        profiles = cam.profiles()
    assert (info.manufacturer, info.model, info.firmware_version, info.serial_number) == (
        "XLSim", "XL-PTZ-200", "V5.7.3 build 251101", "SIM0001",
    )
    assert caps.ptz and caps.events and caps.pullpoint
    assert caps.xaddrs["media"].endswith("/onvif/media_service")
    assert [(p.token, p.width, p.height, p.encoding) for p in profiles] == [
        ("prof_main", 1920, 1080, "H264"), ("prof_sub", 640, 360, "H264"),
    ]
    # every operation after the clock probe was authenticated (the simulator rejects otherwise)
    assert sim.requests[0] == "GetSystemDateAndTime"


def test_stream_uris_main_and_sub_point_at_a_playable_rtsp_stream(make_sim, rtsp_server):
    import av

    sim = make_sim(main_stream=rtsp_server.url("cam01"), sub_stream=rtsp_server.url("cam02"))
    with camera_for(sim) as cam:
        uris = cam.stream_uris()
        snapshot = cam.snapshot_uri()
    assert uris == {"main": rtsp_server.url("cam01"), "sub": rtsp_server.url("cam02")}
    assert snapshot.startswith(f"http://127.0.0.1:{sim.port}/snapshot/prof_main")
    # The URI the device handed out really streams: decode one frame from it.
    with av.open(uris["sub"], options={"rtsp_transport": "tcp", "probesize": "32768", "analyzeduration": "0"}, timeout=(10, 10)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (480, 360)


@pytest.mark.parametrize("auth_mode", ["soap", "http401", "http_digest"])
def test_wrong_password_is_an_auth_error_naming_device_and_operation(make_sim, auth_mode, caplog):
    sim = make_sim(auth_mode=auth_mode)
    wrong = "wrong-Passw0rd-xyz"
    caplog.set_level(logging.DEBUG)
    with camera_for(sim, password=wrong) as cam, pytest.raises(OnvifAuthError) as err:
        cam.device_information()
    message = str(err.value)
    assert err.value.operation == "GetCapabilities"
    assert f"127.0.0.1:{sim.port}" in message and "credentials rejected" in message
    assert wrong not in message and wrong not in caplog.text


def test_device_guarding_soap_with_http_digest_works(make_sim):
    sim = make_sim(auth_mode="http_digest")
    with camera_for(sim) as cam:
        assert cam.device_information().model == "XL-PTZ-200"
        assert cam.stream_uris()["main"]


def test_password_never_logged_on_a_successful_session(sim, caplog):
    caplog.set_level(logging.DEBUG)
    with camera_for(sim) as cam:
        cam.device_information()
        cam.stream_uris()
    assert sim.config.password not in caplog.text
    assert sim.config.password not in repr(cam)


def test_camera_with_clock_two_hours_off_works_thanks_to_offset(make_sim):
    sim = make_sim(clock_offset=dt.timedelta(hours=2, seconds=17))
    with camera_for(sim) as cam:
        info = cam.device_information()
        offset = cam.clock.offset
    assert info.model == "XL-PTZ-200"
    assert abs(offset.total_seconds() - (2 * 3600 + 17)) <= 2


def test_same_camera_without_offset_handling_is_rejected(make_sim):
    # Proves the previous test depends on the offset: the simulator really checks Created.
    sim = make_sim(clock_offset=dt.timedelta(hours=-2))
    with camera_for(sim, sync_clock=False) as cam, pytest.raises(OnvifAuthError):
        cam.device_information()


def test_every_authenticated_call_carries_a_fresh_nonce(sim):
    # The simulator refuses a replayed nonce, as firmwares do; a reused token would fail here.
    from tests.devices.onvif.simulator import PREAUTH_OPERATIONS

    with camera_for(sim) as cam:
        for _ in range(5):
            cam.device_information()
    authenticated = [op for op in sim.requests if op not in PREAUTH_OPERATIONS]
    assert authenticated.count("GetDeviceInformation") == 5
    assert len(sim.seen_nonces) == len(authenticated)


def test_device_that_never_answers_times_out(silent_tcp_server):
    started = time.monotonic()
    with OnvifCamera(silent_tcp_server, "admin", "x", timeout=1.0) as cam, pytest.raises(OnvifTimeout) as err:
        cam.device_information()
    assert time.monotonic() - started < 5
    assert err.value.operation == "GetSystemDateAndTime"
    assert "127.0.0.1" in str(err.value)


def test_simulated_hung_device_times_out_mid_session(make_sim):
    sim = make_sim(behaviour="silent")
    started = time.monotonic()
    with camera_for(sim, timeout=1.0) as cam, pytest.raises(OnvifTimeout):
        cam.connect()
    assert time.monotonic() - started < 5


def test_unreachable_device_is_a_connection_error(closed_port_url):
    with OnvifCamera(closed_port_url, "admin", "x", timeout=1.0) as cam, pytest.raises(OnvifConnectionError) as err:
        cam.connect()
    assert "cannot connect" in str(err.value) and "ConnectionError" in str(err.value)
    assert isinstance(err.value, OnvifTimeout)  # callers that only handle "device down" catch both


def test_device_dripping_bytes_hits_the_overall_deadline(make_sim):
    sim = make_sim(behaviour="drip")
    started = time.monotonic()
    with camera_for(sim, timeout=1.0) as cam, pytest.raises(OnvifTimeout):
        cam.connect()
    assert time.monotonic() - started < 3  # each byte arrives within the read timeout; the deadline still ends it


def test_oversized_reply_is_refused(make_sim):
    sim = make_sim(behaviour="huge")
    with camera_for(sim) as cam, pytest.raises(OnvifProtocolError) as err:
        cam.connect()
    assert "reply larger than" in str(err.value)


def test_garbage_reply_is_a_protocol_error(make_sim):
    sim = make_sim(behaviour="garbage")
    with camera_for(sim) as cam, pytest.raises(OnvifProtocolError) as err:
        cam.connect()
    assert "not well-formed XML" in str(err.value)


def test_xml_bomb_reply_is_refused_not_expanded(make_sim):
    sim = make_sim(behaviour="xml_bomb")
    started = time.monotonic()
    with camera_for(sim) as cam, pytest.raises(OnvifProtocolError) as err:
        cam.connect()
    # Expanding 10^9 "lol"s would take minutes and gigabytes; refusal is immediate.
    assert time.monotonic() - started < 2
    assert "unsafe XML" in str(err.value)


def test_fixed_camera_reports_no_ptz_and_ptz_calls_fail_clearly(make_sim):
    sim = make_sim(ptz=False, model="XL-FIX-100")
    with camera_for(sim) as cam:
        assert cam.capabilities().ptz is False
        assert cam.has_ptz() is False
        assert cam.stream_uris()["main"]  # media still works
        with pytest.raises(OnvifNotSupported) as err:
            cam.continuous_move(pan=0.5)
        with pytest.raises(OnvifNotSupported):
            cam.presets()
    assert err.value.operation == "ContinuousMove" and "no PTZ service" in str(err.value)
    assert "ContinuousMove" not in sim.requests  # refused locally, nothing sent


def test_camera_without_events_service_refuses_pullpoint(make_sim):
    sim = make_sim(events=False)
    with camera_for(sim) as cam, pytest.raises(OnvifNotSupported) as err:
        cam.pullpoint().subscribe()
    assert "no Events service" in str(err.value)


def test_bare_host_becomes_the_standard_device_service_url():
    assert OnvifCamera("10.0.0.5").url == "http://10.0.0.5:80/onvif/device_service"


def test_xaddrs_behind_nat_are_reached_through_the_address_we_used(make_sim):
    # The device advertises a private address we cannot reach (port-mapped 4G terminal).
    sim = make_sim(advertise_host="10.255.255.1")
    url = f"http://127.0.0.1:{sim.port}/onvif/device_service"
    with OnvifCamera(url, sim.config.username, sim.config.password, timeout=2.0) as cam:
        assert cam.capabilities().xaddrs["media"] == f"http://127.0.0.1:{sim.port}/onvif/media_service"
        assert cam.profiles()
    with OnvifCamera(url, sim.config.username, sim.config.password, timeout=0.5, rewrite_xaddrs=False) as raw:
        assert raw.capabilities().xaddrs["media"].startswith("http://10.255.255.1:")


def test_off_schema_profile_values_are_tolerated(sim):
    # Real firmwares write odd values (here a non-numeric Width and a missing Quality):
    # the profile is still usable, the odd value is unknown.
    original = sim._profile
    sim._profile = lambda token, name, w, h, fps: original(token, name, w, h, fps).replace(
        f"<tt:Width>{w}</tt:Width>", "<tt:Width>abc</tt:Width>"
    ).replace("<tt:Quality>5</tt:Quality>", "")
    with camera_for(sim) as cam:
        profiles = cam.profiles()
        uris = cam.stream_uris()
    assert [(p.token, p.width, p.height) for p in profiles] == [("prof_main", None, 1080), ("prof_sub", None, 360)]
    assert uris["main"] == sim.config.main_stream


def test_one_client_shared_by_threads(sim):
    from concurrent.futures import ThreadPoolExecutor

    with camera_for(sim) as cam:
        cam.connect()
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: cam.ptz_status() if i % 2 else cam.device_information(), range(40)))
    assert len(results) == 40
    assert all(r.model == "XL-PTZ-200" for r in results[::2])


@pytest.mark.parametrize("broken", ["GetServices", "GetCapabilities"])
def test_one_broken_service_listing_is_enough(make_sim, broken):
    sim = make_sim(broken=(broken,))
    with camera_for(sim) as cam:
        caps = cam.capabilities()
        assert caps.ptz and caps.events and "media" in caps.xaddrs
        assert cam.stream_uris()["main"] == sim.config.main_stream
    assert broken in sim.requests


def test_both_service_listings_broken_reports_the_device_fault(make_sim):
    sim = make_sim(broken=("GetServices", "GetCapabilities"))
    with camera_for(sim) as cam, pytest.raises(OnvifProtocolError) as err:
        cam.capabilities()
    assert err.value.operation == "GetCapabilities" and "internal error" in str(err.value)
