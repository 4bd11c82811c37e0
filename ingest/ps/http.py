"""The GB worker's PS endpoint: ``GET /gb28181/<channel>.ps`` streams the channel's live program stream.

This is how a GB channel reaches the same reader/relay path as an RTSP camera:
the registry gives the channel this URL, the ingest reader opens it with PyAV
(FFmpeg's ``mpeg`` demuxer), and the request makes the hub INVITE the device.
Every route but ``GET /health`` needs the media token (``XUELIANG_GB28181_MEDIA_TOKEN``),
as ``Authorization: Bearer <token>`` (the web process's control calls) or as HTTP Basic
with the token for password (``http://gb:<token>@host/…``: FFmpeg answers the 401
challenge with it, so the registry's stream URL carries a ``${XUELIANG_GB28181_MEDIA_TOKEN}``
reference resolved only at connect time). The token is compared in constant time and
never written to an answer or a log line; refusals are logged at most once per 10 s with
their count.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from devices.gb28181 import is_id
from devices.gb28181.config import TOKEN_USER, check_token
from ingest.ps.hub import GbMediaHub

log = logging.getLogger(__name__)
_PATH = re.compile(r"^/gb28181/(\d{20})\.ps$")
_CONTROL = re.compile(r"^/gb28181/(\d{20})/([a-z_]{1,32})$")
MAX_CONTROL_BODY = 16 * 1024
# (channel, action, JSON body) -> JSON answer; raise LookupError (404/409) or TimeoutError (504)
Control = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _presented_token(head: bytes) -> str | None:
    """The token of an ``Authorization`` header: Bearer, or Basic's password."""
    for h in head.split(b"\r\n")[1:]:
        name, _, value = h.partition(b":")
        if name.strip().lower() != b"authorization":
            continue
        scheme, _, cred = value.strip().partition(b" ")
        if scheme.lower() == b"bearer":
            return cred.strip().decode("latin-1")
        if scheme.lower() == b"basic":
            try:
                return base64.b64decode(cred.strip(), validate=True).decode("latin-1").partition(":")[2]
            except (binascii.Error, ValueError):
                return None
    return None


_PLAYBACK = re.compile(r"(?:^|&)playback=(\d{9,11})-(\d{9,11})(?:&|$)")


def _playback(target: str) -> tuple[int, int] | None:
    """``?playback=<start>-<end>`` (unix seconds) → the recording's range (at most a day), else live."""
    query = target.partition("?")[2]
    if not query:
        return None
    m = _PLAYBACK.search(query)
    if m is None:
        raise ValueError("查询参数应为 playback=<开始>-<结束>（Unix 秒）")
    start, end = int(m.group(1)), int(m.group(2))
    if not 0 < end - start <= 86_400:
        raise ValueError("回放时段须大于 0 且不超过 24 小时")
    return start, end


class PsHttpServer:
    def __init__(self, hub: GbMediaHub, host: str = "127.0.0.1", port: int = 15080, control: Control | None = None,
                 *, token: str) -> None:
        check_token(token, "the PS endpoint's token")
        self.hub, self.host, self.port = hub, host, port
        self.control = control  # POST /gb28181/<channel>/<action> (PTZ, records) for the web process
        self._token = token.encode("latin-1", "replace")
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self.refused = 0  # requests with a wrong token (logged at most once per 10 s)
        self.challenged = 0  # requests without credentials (answered 401 with the Basic challenge)
        self._refused_logged, self._refused_since_log = 0.0, 0

    def __repr__(self) -> str:  # the token stays out of reprs (tracebacks, debug logs)
        return f"PsHttpServer({self.host}:{self.port})"

    async def start(self) -> PsHttpServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("GB28181 PS endpoint on http://%s:%d/gb28181/<channel>.ps", self.host, self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._clients):
            t.cancel()

    def url(self, channel_id: str, *, token: bool = True) -> str:
        """The channel's URL for an in-process reader; with the token as Basic password unless *token* is False."""
        auth = f"{TOKEN_USER}:{self._token.decode('latin-1')}@" if token else ""
        return f"http://{auth}{self.host}:{self.port}/gb28181/{channel_id}.ps"

    def _authorised(self, head: bytes) -> bool:
        presented = _presented_token(head)
        return presented is not None and hmac.compare_digest(presented.encode("latin-1", "replace"), self._token)

    def _log_refusal(self, writer: asyncio.StreamWriter, method: str, path: str, presented: bool) -> None:
        """A request without credentials is the normal first leg of HTTP Basic (FFmpeg sends the token only
        after the 401): counted, not logged. A wrong token is a guess: logged, at most one line per 10 s."""
        if not presented:
            self.challenged += 1
            return
        self.refused += 1
        self._refused_since_log += 1
        now = time.monotonic()
        if now - self._refused_logged >= 10.0:
            peer = writer.get_extra_info("peername")
            log.warning("GB28181 PS endpoint: refused %s %r from %s: wrong token (%d refused in the last 10 s)",
                        method[:8], path[:120], peer[0] if peer else "?", self._refused_since_log)
            self._refused_logged, self._refused_since_log = now, 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            if task is not None:
                self._clients.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("GET", "HEAD") and parts[1] == "/health":
            return await self._answer(writer, 200, "OK", b'{"ok": true}', "application/json")
        if not self._authorised(head):  # before any routing: without the token nothing is told about paths or channels
            self._log_refusal(writer, parts[0] if parts else "", parts[1] if len(parts) > 1 else "",
                              _presented_token(head) is not None)
            return await self._error(writer, 401, "Unauthorized", "需要国标媒体服务令牌",
                                     extra='WWW-Authenticate: Basic realm="xueliang-gb28181"\r\n')
        if len(parts) >= 2 and parts[0] == "POST" and self.control is not None:
            return await self._control(reader, writer, head, parts[1])
        if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
            return await self._error(writer, 405, "Method Not Allowed", "只支持 GET")
        m = _PATH.match(parts[1].split("?", 1)[0])  # ?playback=<start>-<end>: the device's recording instead of live
        if not m or not is_id(m.group(1)):
            return await self._error(writer, 404, "Not Found", "路径应为 /gb28181/<20 位通道编码>.ps")
        channel_id = m.group(1)
        try:
            playback = _playback(parts[1])
        except ValueError as exc:
            return await self._error(writer, 400, "Bad Request", str(exc))
        try:
            consumer = await self.hub.subscribe(channel_id, playback)
        except (LookupError, TimeoutError) as exc:
            log.warning("GB28181 PS endpoint: %s not available: %s", channel_id, exc)
            return await self._error(writer, 503, "Service Unavailable", f"通道 {channel_id} 无法取流：{exc}")
        try:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/MP2P\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
            if parts[0] == "HEAD":
                return
            closed = asyncio.ensure_future(reader.read(1))  # EOF from the client = it left
            while True:
                get = asyncio.ensure_future(consumer.get())
                done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    get.cancel()
                    break
                chunk = get.result()
                if chunk is None:
                    break
                writer.write(chunk)
                await writer.drain()
        finally:
            if "closed" in locals() and not closed.done():
                closed.cancel()
            elif "closed" in locals() and not closed.cancelled():
                closed.exception()  # a reset client is the normal way to leave: retrieve, do not log
            await consumer.close()

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, path: str) -> None:
        m = _CONTROL.match(path)
        if not m:
            return await self._error(writer, 404, "Not Found", "路径应为 /gb28181/<20 位通道编码>/<操作>")
        length = 0
        for h in head.split(b"\r\n")[1:]:
            name, _, value = h.partition(b":")
            if name.strip().lower() == b"content-length" and value.strip().isdigit():
                length = int(value.strip())
        if length > MAX_CONTROL_BODY:
            return await self._error(writer, 413, "Payload Too Large", "请求体过大")
        try:
            body = json.loads(await asyncio.wait_for(reader.readexactly(length), 5.0) or b"{}") if length else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except (ValueError, asyncio.IncompleteReadError) as exc:
            return await self._error(writer, 400, "Bad Request", f"请求体不是 JSON 对象：{exc}")
        channel, action = m.group(1), m.group(2)
        try:
            answer = await self.control(channel, action, body)  # type: ignore[misc]
        except LookupError as exc:
            return await self._error(writer, 409, "Conflict", str(exc))
        except ValueError as exc:
            return await self._error(writer, 400, "Bad Request", str(exc))
        except TimeoutError as exc:
            return await self._error(writer, 504, "Gateway Timeout", f"设备未及时响应：{exc}")
        await self._answer(writer, 200, "OK", json.dumps(answer, ensure_ascii=False).encode(), "application/json")

    async def _error(self, writer: asyncio.StreamWriter, code: int, reason: str, text: str, extra: str = "") -> None:
        await self._answer(writer, code, reason, text.encode(), "text/plain; charset=utf-8", extra)

    async def _answer(self, writer: asyncio.StreamWriter, code: int, reason: str, body: bytes, ctype: str, extra: str = "") -> None:
        writer.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
                     "Connection: close\r\n\r\n".encode() + body)
        await writer.drain()
