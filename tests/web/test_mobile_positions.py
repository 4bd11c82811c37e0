"""Drone positions live in the database: posted over HTTP or published by a worker that does not store them
(the GB/T 28181 MobilePosition path), they are still there after web restarts with an empty event stream, for
the map API and for dispatch (the drone near an incident is listed beside the recommended responders)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from devices import load_registry, publish_position
from devices.mobile import Telemetry
from tests.web.conftest import PASSWORD, SECRET, ServerThread, seeded_database
from xueliang.runtime import free_port
from xueliang.settings import Settings

CAMERAS = Path(__file__).parent / "cameras.yaml"


@contextmanager
def _login(base: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=15) as http:
        r = http.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield http


def _track(base: str, unit: str) -> list[dict]:
    with _login(base, "op_a") as http:
        r = http.get(f"/api/mobile/units/{unit}/track")
        assert r.status_code == 200, r.text
        return r.json()


def test_tracks_survive_a_web_restart_with_the_event_stream_gone(tmp_path: Path, redis_url: str) -> None:
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(CAMERAS.read_text(encoding="utf-8"), encoding="utf-8")
    settings = Settings(data_dir=tmp_path, cameras_file=cameras, database_url=f"sqlite:///{tmp_path / 'web.db'}",
                        redis_url=redis_url, secret_key=SECRET, web_port=free_port())
    database = seeded_database(settings.resolved_database_url())
    from web import create_app

    base = f"http://127.0.0.1:{settings.web_port}"
    start = datetime.now(UTC).replace(microsecond=0)
    client = redis.Redis.from_url(redis_url)
    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    try:
        with _login(base, "county_t") as http:
            body = [{"unit_id": "uavA", "ts": (start + timedelta(seconds=k)).isoformat(), "lat": 27.7790 + k * 0.001,
                     "lon": 120.6556, "alt_m": 80 + k} for k in range(3)]
            r = http.post("/api/mobile/telemetry", json=body)
            assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
            again = http.post("/api/mobile/telemetry", json=body[:1])
            assert again.status_code == 200 and again.json()["accepted"] == 1  # valid, but stored once
        # A worker that only publishes (GB/T 28181's MobilePosition): web stores the report itself.
        unit = load_registry(cameras).get("uavA")
        gb = Telemetry(unit_id="uavA", ts=start + timedelta(seconds=3), lat=27.7830, lon=120.6556)
        publish_position(client, gb, unit)
        deadline = time.monotonic() + 10
        while len(_track(base, "uavA")) < 4:
            assert time.monotonic() < deadline, _track(base, "uavA")
            time.sleep(0.1)
    finally:
        server.stop()

    client.delete("xl:events")  # nothing left to replay: whatever web shows next comes from the database
    settings = settings.model_copy(update={"web_port": free_port()})
    base = f"http://127.0.0.1:{settings.web_port}"
    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    try:
        track = _track(base, "uavA")
        assert [round(p["lat"], 4) for p in track] == [27.779, 27.780, 27.781, 27.783], track
        assert [p["alt_m"] for p in track] == [80, 81, 82, None]
        with _login(base, "op_a") as http:
            units = {u["id"]: u for u in http.get("/api/mobile/units").json()}
            assert units["uavA"]["latest"]["lat"] == pytest.approx(27.783) and not units["uavA"]["stale"]
            near = http.get("/api/mobile/nearby", params={"lat": 27.783, "lon": 120.6556, "radius_m": 200}).json()
            assert [h["id"] for h in near if h["kind"] == "mobile"] == ["uavA"], near
            # Dispatch: an incident at the drone's place lists the drone beside the recommended responders.
            r = http.post("/api/intake/reports", json={"source": "hotline_12345", "title": "河道漂浮物",
                                                        "jurisdiction_code": "330381101", "lat": 27.7832, "lon": 120.6557})
            assert r.status_code == 200, r.text
            incident_id = r.json()["incident"]["id"]
            rec = http.get(f"/api/incidents/{incident_id}/recommendations").json()
            assert [(u["id"], round(u["distance_m"])) for u in rec["mobile_units"]] == [("uavA", 24)], rec["mobile_units"]
        with _login(base, "op_b") as http:  # another township's operator: not theirs to see
            assert http.get("/api/mobile/units/uavA/track").status_code == 404
    finally:
        server.stop()
        client.close()
        database.dispose()
