"""``/api/ws``: live incident and device events for exactly the users whose scope covers them.

Auth by ``?token=`` or the session cookie. ``?last_event_id=<stream id>`` resumes
after that id. Each message is the ``xl:events`` event plus ``stream_id``; the
first message is ``{"type": "hello", "cursor": <current stream head>}``.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from web.deps import can_see_incident, principal_from_token, websocket_token
from web.events import SubscriberLagged, parse_stream_id
from web.scope import Principal

log = logging.getLogger("web.ws")
router = APIRouter()

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin; a page on another site must not ride the user's cookie."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser (CLI client, test)
    host = websocket.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def accepts_for(user: Principal):
    def accepts(message: dict) -> bool:
        payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
        return can_see_incident(user, message.get("jurisdiction_code"), payload.get("assigned_responder_ids"))

    return accepts


async def _refuse(websocket: WebSocket, reason: str) -> None:
    # Accept, then close with 1008: a browser sees the code and the reason (a refused
    # handshake only shows up as an anonymous 1006) and can send the user to the login page.
    await websocket.accept()
    await websocket.close(POLICY_VIOLATION, reason[:120])


@router.websocket("/api/ws")
async def events_socket(websocket: WebSocket) -> None:
    ctx = websocket.app.state.ctx
    token = websocket_token(websocket)
    if not _same_origin(websocket):
        await _refuse(websocket, "cross-origin WebSocket refused")
        return
    try:
        user = await run_in_threadpool(principal_from_token, ctx, token)
    except HTTPException as exc:
        await _refuse(websocket, str(exc.detail))
        return
    last_event_id = websocket.query_params.get("last_event_id") or None
    if last_event_id:
        try:
            parse_stream_id(last_event_id)
        except ValueError as exc:
            await _refuse(websocket, str(exc))
            return
    # Without a cursor the client starts "now"; pinning now to the stream head before
    # subscribing means an event published during the handshake is still delivered.
    cursor = last_event_id or await ctx.hub.head_id()
    await websocket.accept()
    await websocket.send_json({"type": "hello", "cursor": cursor, "user": user.username})

    async def pump() -> None:
        async for message in ctx.hub.subscribe(accepts_for(user), cursor):
            await websocket.send_json(message)

    async def watch_close() -> None:
        # Clients only listen; reading is how a vanished client is noticed while idle.
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    tasks = [asyncio.create_task(pump()), asyncio.create_task(watch_close())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = task.exception()
            if isinstance(exc, SubscriberLagged):
                await websocket.close(TRY_AGAIN_LATER, str(exc)[:120])
            elif exc is not None and not isinstance(exc, (WebSocketDisconnect, RuntimeError)):
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
