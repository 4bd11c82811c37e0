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
        status = {"code": 0}

        async def tracking_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            elif message["type"] == "websocket.accept":
                status["code"] = 101
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            client = scope.get("client")
            method = scope.get("method", "WS")
            log.info("%s %s %s %s %.1fms", client[0] if client else "-", method, scope.get("path", ""),
                     status["code"] or "-", (time.perf_counter() - started) * 1000)


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
