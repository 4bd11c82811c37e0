"""Access log without query strings: ``/api/ws?token=…`` must never put a token in a log file.

Replaces uvicorn's access log (``access_log=False``); logs method, path, status, duration.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("web.access")


class AccessLog:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"code": 0, "logged": False}

        def write(code: int | str) -> None:
            state["logged"] = True
            client = scope.get("client")
            method = scope.get("method", "WS")
            log.info("%s %s %s %s %.1fms", client[0] if client else "-", method, scope.get("path", ""),
                     code, (time.perf_counter() - started) * 1000)

        async def tracking_send(message):
            kind = message["type"]
            if kind == "http.response.start":
                state["code"] = message["status"]
            elif kind in ("websocket.accept", "websocket.close") and not state["logged"]:
                # A WebSocket lives for hours: log the handshake's outcome now, not when it ends.
                write(101 if kind == "websocket.accept" else 403)
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if not state["logged"]:
                write(state["code"] or "-")


class RedactTokens(logging.Filter):
    """Scrub ``token=…`` from records (the websockets library logs handshakes at DEBUG)."""

    _pattern = __import__("re").compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg = self._pattern.sub(r"\1***", message)
            record.args = ()
        return True


def install_token_redaction(loggers: tuple[str, ...] = ("", "uvicorn", "uvicorn.error", "uvicorn.access")) -> None:
    """Process setup for ``xueliang web run`` (after uvicorn configured logging): filter every handler."""
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(RedactTokens())
