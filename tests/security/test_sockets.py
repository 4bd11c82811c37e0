"""Issue #13 item 6: an open WebSocket closes within 5 s when its account is disabled, its token is
revoked by logout or expires; logout revokes the token for HTTP too; a cursor past 2^64 is refused
with a close code instead of a dropped connection (item 9)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from command import create_user
from web import hash_password
from web.auth import issue_token

from tests.security.conftest import PASSWORD, SECRET, TOWNSHIP_A

CLOSE_WITHIN_S = 5.0


async def _closed_after(ws, start: float) -> tuple[int | None, float]:
    """Read until the server closes; (close code, seconds since ``start``)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), CLOSE_WITHIN_S + 5)
    except ConnectionClosed as exc:
        return (exc.rcvd.code if exc.rcvd else None), time.monotonic() - start
    except TimeoutError:
        return None, time.monotonic() - start


async def _open(web_process, token: str):
    ws = await websockets.connect(f"{web_process.ws_url}/api/ws?token={token}")
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert hello["type"] == "hello"
    return ws


def _new_operator(web_process) -> str:
    name = f"sock-{uuid.uuid4().hex[:6]}"
    with web_process.database.session() as session:
        create_user(session, name, hash_password(PASSWORD), "township_operator", TOWNSHIP_A)
    return name


async def test_disabling_an_account_closes_its_socket(web_process) -> None:
    name = _new_operator(web_process)
    ws = await _open(web_process, web_process.token(name))
    with web_process.client("admin_a") as admin:
        r = admin.post(f"/api/users/{name}/active", json={"active": False})
        assert r.status_code == 200, r.text
    code, took = await _closed_after(ws, time.monotonic())
    assert code == 1008 and took <= CLOSE_WITHIN_S, (code, took)


async def test_logout_revokes_the_token_and_closes_its_socket(web_process) -> None:
    name = _new_operator(web_process)
    token = web_process.token(name)
    ws = await _open(web_process, token)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=web_process.url, timeout=15) as http:
        assert http.get("/api/auth/me", headers=auth).status_code == 200
        assert http.post("/api/auth/logout", headers=auth).status_code == 204
        start = time.monotonic()
        assert http.get("/api/auth/me", headers=auth).status_code == 401  # revoked, though not expired
    code, took = await _closed_after(ws, start)
    assert code == 1008 and took <= CLOSE_WITHIN_S, (code, took)
    refused = await websockets.connect(f"{web_process.ws_url}/api/ws?token={token}")  # a new socket with it
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(refused.recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008


async def test_an_expiring_token_closes_its_socket(web_process) -> None:
    name = _new_operator(web_process)
    token, expires_at = issue_token(SECRET, username=name, role="township_operator", jurisdiction_code=TOWNSHIP_A, ttl_s=3)
    ws = await _open(web_process, token)
    code, _took = await _closed_after(ws, time.monotonic())
    assert code == 1008
    assert time.time() - expires_at <= CLOSE_WITHIN_S


async def test_a_cursor_beyond_the_stream_id_range_is_refused_with_a_close_code(web_process) -> None:
    token = web_process.token("op_a")
    ws = await websockets.connect(f"{web_process.ws_url}/api/ws?token={token}&last_event_id=99999999999999999999-0")
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
