"""Signalling routes: token required, scope enforced through the injected lookup, clear errors.

These requests never reach ICE (they are refused before a peer connection exists); the
offer → answer → media path is exercised in real Chromium by ``test_live_browser.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from web.live import LiveCamera, make_router, registry_lookup
from web.live.sessions import LiveConfig, LiveError, offer_accepts_h264

# Offers as Chromium sends them (trimmed to the video section's codec lines).
CHROME_OFFER = """v=0\r
o=- 1 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
m=video 9 UDP/TLS/RTP/SAVPF 96 102 103\r
c=IN IP4 0.0.0.0\r
a=mid:0\r
a=recvonly\r
a=rtpmap:96 VP8/90000\r
a=rtpmap:102 H264/90000\r
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r
a=rtpmap:103 H264/90000\r
a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r
"""
VP8_ONLY_OFFER = CHROME_OFFER.replace("96 102 103", "96").split("a=rtpmap:102")[0]
MODE0_ONLY_OFFER = CHROME_OFFER.replace("96 102 103", "103").replace(
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n", "")
AUDIO_ONLY_OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"


@dataclass(frozen=True)
class User:
    username: str
    jurisdiction_code: str

    def covers(self, code: str) -> bool:
        return code.startswith(self.jurisdiction_code)


@dataclass
class Camera:
    id: str
    jurisdiction: str
    secret_url: str
    resolved: int = 0

    def stream_url(self, stream: str, resolve_secrets: bool = False) -> str:
        assert stream in ("main", "sub") and resolve_secrets  # "sub" falls back to main, like devices.Camera
        self.resolved += 1
        return self.secret_url


USERS = {"tok-a": User("op_a", "330381101"), "tok-b": User("op_b", "330381102")}
CAMERAS = {
    "camA": Camera("camA", "330381101201", "rtsp://admin:pw-A@127.0.0.1:1/camA"),
    "camB": Camera("camB", "330381102201", "rtsp://admin:pw-B@127.0.0.1:1/camB"),
}


def auth(request: Request) -> User:
    header = request.headers.get("authorization", "")
    user = USERS.get(header.removeprefix("Bearer ").strip())
    if user is None:
        raise HTTPException(401, "not logged in")
    return user


@pytest.fixture(params=["player", "relay"])
async def client(request):
    lookup = registry_lookup(CAMERAS.get, lambda user, cam: user.covers(cam.jurisdiction))
    router = make_router(auth, lookup, upstream=request.param, config=LiveConfig(codec_wait_s=1.0),
                         known_cameras=lambda user: [c.id for c in CAMERAS.values() if user.covers(c.jurisdiction)])
    app = FastAPI()
    app.include_router(router, prefix="/api/live")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        http.app = app
        yield http
    await router.live.close_all()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_offer_codec_detection_picks_passthrough_only_for_h264_mode1() -> None:
    assert offer_accepts_h264(CHROME_OFFER) is True
    assert offer_accepts_h264(VP8_ONLY_OFFER) is False
    assert offer_accepts_h264(MODE0_ONLY_OFFER) is False  # aiortc packetises in mode 1 only
    with pytest.raises(LiveError, match="no video section"):
        offer_accepts_h264(AUDIO_ONLY_OFFER)


async def test_every_live_route_in_the_schema_requires_a_token(client) -> None:
    schema = client.app.openapi()
    checked = 0
    for path, methods in schema["paths"].items():
        for method in methods:
            url = path.replace("{camera_id}", "camA").replace("{session_id}", "x")
            resp = await client.request(method.upper(), url, json={"sdp": CHROME_OFFER})
            assert resp.status_code == 401, (method, path, resp.status_code)
            checked += 1
    assert checked == 4  # offer, delete, report, stats


async def test_camera_outside_the_users_jurisdiction_is_not_found(client) -> None:
    resp = await client.post("/api/live/camB/offer", json={"sdp": CHROME_OFFER}, headers=bearer("tok-a"))
    assert resp.status_code == 404
    assert "not found in your jurisdiction" in resp.json()["detail"]
    unknown = await client.post("/api/live/nope/offer", json={"sdp": CHROME_OFFER}, headers=bearer("tok-a"))
    assert unknown.status_code == 404 and unknown.json()["detail"].replace("nope", "camB") == resp.json()["detail"]
    assert CAMERAS["camB"].resolved == 0  # its secret was never even resolved


async def test_bad_offers_get_clear_errors(client) -> None:
    resp = await client.post("/api/live/camA/offer", json={"sdp": AUDIO_ONLY_OFFER}, headers=bearer("tok-a"))
    assert resp.status_code == 400 and "no video section" in resp.json()["detail"]
    resp = await client.post("/api/live/camA/offer", json={"sdp": "short"}, headers=bearer("tok-a"))
    assert resp.status_code == 422
    resp = await client.post("/api/live/camA/offer?mode=bogus", json={"sdp": CHROME_OFFER}, headers=bearer("tok-a"))
    assert resp.status_code == 422


async def test_offline_camera_answers_503_with_a_reason_and_no_password(client) -> None:
    # camA's URL points at a port where nothing listens.
    resp = await client.post("/api/live/camA/offer", json={"sdp": CHROME_OFFER}, headers=bearer("tok-a"))
    assert resp.status_code == 503, resp.text
    assert "camA is not streaming" in resp.json()["detail"]
    assert "pw-A" not in resp.text and "rtsp://" not in resp.text


async def test_stats_lists_only_cameras_in_scope_and_no_urls(client) -> None:
    resp = await client.get("/api/live/stats", headers=bearer("tok-b"))
    assert resp.status_code == 200
    body = resp.json()
    assert set(body["cameras"]) == {"camB"} and body["sessions"] == 0
    assert "rtsp://" not in resp.text and "pw-" not in resp.text


async def test_closing_an_unknown_session_is_idempotent(client) -> None:
    resp = await client.delete("/api/live/camA/sessions/does-not-exist", headers=bearer("tok-a"))
    assert resp.status_code == 204


async def test_live_js_is_served_and_exposes_play(client) -> None:
    resp = await client.get("/api/live/static/live.js")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    assert "XLLive" in resp.text and "function play(video, cameraId, token, options)" in resp.text


def test_live_camera_repr_hides_url() -> None:
    assert "pw" not in repr(LiveCamera("camA", "rtsp://admin:pw@h/x"))
