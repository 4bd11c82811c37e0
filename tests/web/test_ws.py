"""The WebSocket: pushes reach exactly the users whose scope covers the event, and resume loses nothing."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis
import websockets

from command import publish_event
from tests.web.conftest import TOWNSHIP_A, TOWNSHIP_B


async def _collect(ws, n: int, timeout: float = 5.0) -> list[dict]:
    out = []
    while len(out) < n:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if msg["type"] != "hello":
            out.append(msg)
    return out


async def _nothing_more(ws, wait: float = 0.5) -> None:
    with pytest.raises(asyncio.TimeoutError):
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), wait))
            if msg["type"] != "hello":
                raise AssertionError(f"unexpected push {msg}")


async def _hello(ws) -> dict:
    msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert msg["type"] == "hello"
    return msg


def test_pushes_go_only_to_users_whose_scope_covers_the_event(web_server) -> None:
    tokens = {u: web_server.token(u) for u in ("op_a", "op_b", "admin_t")}
    r = redis.Redis.from_url(web_server.redis_url)

    async def scenario() -> None:
        base = f"{web_server.ws_url}/api/ws?token="
        async with websockets.connect(base + tokens["op_a"]) as a, websockets.connect(base + tokens["op_b"]) as b, \
                websockets.connect(base + tokens["admin_t"]) as admin:
            for ws in (a, b, admin):
                await _hello(ws)
            publish_event(r, "incident.created", f"{TOWNSHIP_A}201", {"id": 9001})
            publish_event(r, "incident.created", f"{TOWNSHIP_B}203", {"id": 9002})
            publish_event(r, "device.status", f"{TOWNSHIP_A}202", {"camera_id": "ptzA2", "status": "offline"})
            got_a = await _collect(a, 2)
            got_b = await _collect(b, 1)
            got_admin = await _collect(admin, 3)
            assert [m.get("payload", {}).get("id") for m in got_a] == [9001, None]
            assert got_a[1]["type"] == "device.status"
            assert [m["payload"]["id"] for m in got_b] == [9002]
            assert len(got_admin) == 3
            await _nothing_more(a)
            await _nothing_more(b)

    asyncio.run(scenario())
    r.close()


def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(web_server) -> None:
    token = web_server.token("op_a")
    r = redis.Redis.from_url(web_server.redis_url)

    async def scenario() -> None:
        url = f"{web_server.ws_url}/api/ws?token={token}"
        async with websockets.connect(url) as ws:
            await _hello(ws)
            publish_event(r, "incident.created", f"{TOWNSHIP_A}201", {"id": 1})
            (first,) = await _collect(ws, 1)
        # while disconnected: two for us, one for another township
        publish_event(r, "incident.updated", f"{TOWNSHIP_A}201", {"id": 1, "status": "classified"})
        publish_event(r, "incident.created", f"{TOWNSHIP_B}201", {"id": 2})
        publish_event(r, "incident.created", f"{TOWNSHIP_A}203", {"id": 3})
        async with websockets.connect(f"{url}&last_event_id={first['stream_id']}") as ws:
            hello = await _hello(ws)
            assert hello["cursor"] == first["stream_id"]
            missed = await _collect(ws, 2)
            assert [(m["type"], m["payload"]["id"]) for m in missed] == [("incident.updated", 1), ("incident.created", 3)]
            # and live events keep flowing after the backlog, exactly once
            publish_event(r, "incident.created", f"{TOWNSHIP_A}204", {"id": 4})
            (live,) = await _collect(ws, 1)
            assert live["payload"]["id"] == 4
            await _nothing_more(ws)

    asyncio.run(scenario())
    r.close()


def test_websocket_refuses_missing_forged_and_malformed(web_server) -> None:
    async def refused(url: str) -> int:
        async with websockets.connect(url) as ws:
            with pytest.raises(websockets.ConnectionClosed) as exc:
                await asyncio.wait_for(ws.recv(), 5)
            return exc.value.rcvd.code

    base = f"{web_server.ws_url}/api/ws"
    token = web_server.token("op_a")
    assert asyncio.run(refused(base)) == 1008
    assert asyncio.run(refused(f"{base}?token={token[:-4]}AAAA")) == 1008
    assert asyncio.run(refused(f"{base}?token={token}&last_event_id=bogus")) == 1008


def test_token_in_the_websocket_url_never_reaches_the_log(web_server, caplog) -> None:
    token = web_server.token("op_a")
    caplog.set_level("INFO")  # the production level; `web run` also redacts tokens from DEBUG handshake logs

    async def connect() -> None:
        async with websockets.connect(f"{web_server.ws_url}/api/ws?token={token}") as ws:
            await _hello(ws)

    asyncio.run(connect())

    def server_log() -> str:
        return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("web", "uvicorn", "command")))

    deadline = time.monotonic() + 15  # the access line is written when the server side of the socket ends (slow when the box is loaded)
    while "/api/ws" not in server_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    import logging

    access = logging.getLogger("web.access")
    assert "/api/ws" in server_log(), (access.disabled, access.level, access.propagate, logging.getLogger("web").disabled,
                                       logging.getLogger("web").level, logging.getLogger().level)  # the access log saw the request ...
    server_log = server_log()
    assert token not in server_log and "token=" not in server_log  # ... without its query string
