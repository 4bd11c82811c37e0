"""Request-body size limit (413) as a pure ASGI middleware.

Checked on the declared Content-Length and, for chunked uploads, on the bytes
actually received, so a client cannot stream an unbounded body into memory.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.errors import error_body


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n} 字节"


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing re-raises it as 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_bytes: int | None = None, upload_suffixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # uploads (paths ending in one of ``upload_suffixes``) get more room than JSON bodies
        self.upload_bytes = upload_bytes or max_bytes
        self.upload_suffixes = upload_suffixes

    def _limit(self, path: str) -> int:
        return self.upload_bytes if path.endswith(self.upload_suffixes) else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _reject(send, limit)
                    return
        received = 0
        state = {"started": False, "rejected": False}

        async def limited_receive() -> Message:
            nonlocal received
            if state["rejected"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 here, before the app sees more: an exception raised from receive
                    # reaches the body parser wrapped (BaseHTTPMiddleware's task group) and would
                    # come out as a 400. The app is told the client left and its answer is dropped.
                    if not state["started"]:
                        state["rejected"] = True
                        await _reject(send, limit)
                        return {"type": "http.disconnect"}
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            if state["rejected"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not state["rejected"]:
                raise


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps(error_body(413, message=f"请求内容超过 {_size(limit)} 上限，请缩小文件或分批上传。",
                                 detail=f"request body larger than {limit} bytes"), ensure_ascii=False).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})
