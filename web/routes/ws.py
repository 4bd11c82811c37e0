"""``/api/ws``: live incident and device events for exactly the users whose scope covers them.

Auth by ``?token=`` or the session cookie, re-checked every 2 s and before pushes: a socket
closes (1008) within seconds of its account being disabled, its token revoked or expired. ``?last_event_id=<stream id>`` resumes
after that id. Each message is the ``xl:events`` event plus ``stream_id``; the
first message is ``{"type": "hello", "cursor": <current stream head>}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from web.context import AppContext
from web.deps import can_see_incident, principal_from_token, websocket_token
from web.events import SubscriberLagged, parse_stream_id
from web.scope import Principal

log = logging.getLogger("web.ws")
router = APIRouter()

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
RECHECK_S = 2.0        # an open socket re-checks its account and token this often ...
PUSH_RECHECK_S = 1.0   # ... and before a push when the last check is older than this
MAX_STREAM_PART = 2**64 - 1


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin; a page on another site must not ride the user's cookie."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser (CLI client, test)
    host = websocket.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def accepts_for(session: SocketSession) -> Callable[[dict[str, Any]], bool]:
    def accepts(message: dict) -> bool:
        raw = message.get("payload")
        payload: dict[str, Any] = raw if isinstance(raw, dict) else {}
        # The principal as last re-checked: a changed scope or role applies to the next event.
        return can_see_incident(session.user, message.get("jurisdiction_code"), payload.get("assigned_responder_ids"))

    return accepts


class SessionEnded(Exception):
    """The socket's account or token is no longer valid (disabled, logged out, expired)."""


class SocketSession:
    """The account behind one socket, re-checked on a timer and before every push.

    A token is checked when the socket opens; an open socket would otherwise keep receiving
    events after its account is disabled, its token revoked by logout, or its token expires.
    """

    def __init__(self, ctx: AppContext, token: str | None, user: Principal) -> None:
        self._ctx = ctx
        self._token = token
        self.user = user
        self._checked_at = time.monotonic()

    async def check(self) -> None:
        """Raise :class:`SessionEnded` unless the token and the account are still valid."""
        if self.user.expires_at is not None and time.time() >= self.user.expires_at:
            raise SessionEnded("token expired: log in again")
        try:
            self.user = await run_in_threadpool(principal_from_token, self._ctx, self._token)
        except StarletteHTTPException as exc:
            raise SessionEnded(_reason(exc)) from exc
        self._checked_at = time.monotonic()

    async def before_push(self) -> None:
        # Expiry costs nothing to test; the account and revocation are re-read when the last
        # check is older than PUSH_RECHECK_S, so a busy stream does not cost a query per event.
        if self.user.expires_at is not None and time.time() >= self.user.expires_at:
            raise SessionEnded("token expired: log in again")
        if time.monotonic() - self._checked_at >= PUSH_RECHECK_S:
            await self.check()

    async def watch(self) -> None:
        while True:
            wait = RECHECK_S
            if self.user.expires_at is not None:
                wait = max(0.05, min(wait, self.user.expires_at - time.time()))
            await asyncio.sleep(wait)
            await self.check()


def _reason(exc: StarletteHTTPException) -> str:
    return str(getattr(exc, "extra_detail", None) or exc.detail)


def _valid_cursor(value: str) -> bool:
    try:
        ms, seq = parse_stream_id(value)
    except ValueError:
        return False
    return ms <= MAX_STREAM_PART and seq <= MAX_STREAM_PART


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
    except StarletteHTTPException as exc:
        await _refuse(websocket, _reason(exc))
        return
    last_event_id = websocket.query_params.get("last_event_id") or None
    if last_event_id and not _valid_cursor(last_event_id):
        await _refuse(websocket, "last_event_id must look like '1700000000000-0' (two numbers below 2^64)")
        return
    session = SocketSession(ctx, token, user)
    # Without a cursor the client starts "now"; pinning now to the stream head before
    # subscribing means an event published during the handshake is still delivered.
    cursor = last_event_id or await ctx.hub.head_id()
    await websocket.accept()
    await websocket.send_json({"type": "hello", "cursor": cursor, "user": user.username})

    async def pump() -> None:
        async for message in ctx.hub.subscribe(accepts_for(session), cursor):
            await session.before_push()
            await websocket.send_json(message)

    async def watch_close() -> None:
        # Clients only listen; reading is how a vanished client is noticed while idle.
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    tasks = [asyncio.create_task(pump()), asyncio.create_task(watch_close()), asyncio.create_task(session.watch())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            failure = task.exception()
            if isinstance(failure, SessionEnded):
                log.info("closing %s's socket: %s", session.user.username, failure)
                await _close(websocket, POLICY_VIOLATION, str(failure))
            elif isinstance(failure, SubscriberLagged):
                await _close(websocket, TRY_AGAIN_LATER, str(failure))
            elif failure is not None and not isinstance(failure, (WebSocketDisconnect, RuntimeError)):
                # Say so instead of dropping the connection; the client reconnects with its cursor.
                log.error("socket of %s failed: %s", session.user.username, failure)
                await _close(websocket, INTERNAL_ERROR, "event stream error; reconnect")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await websocket.close(code, reason[:120])
    except RuntimeError:  # already closed by the client
        pass
