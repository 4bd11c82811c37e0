"""Access log without query strings: ``/api/ws?token=…`` must never put a token in a log file.

Replaces uvicorn's access log (``access_log=False``); logs method, path, status, duration.
:class:`SafeLogRecords` keeps every log line of the process on one line (no forged lines).
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("web.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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

        async def tracking_send(message: Message) -> None:
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


# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators: anything a terminal or a
# log reader could take as the end of a line or a control sequence.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})
_TOKEN = re.compile(r"(token=)[^&\s\"']+")


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters become visible escapes (``\\n``, ``\\x1b`` …)."""
    return text.translate(_CONTROL)


class SafeLogRecords(logging.Filter):
    """Every log line is one line and carries no token: control characters in a message (a
    request path, a username, a device's answer) are escaped, so nobody can forge a log line,
    and ``token=…`` is scrubbed (the websockets library logs handshakes at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = escape_controls(_TOKEN.sub(r"\1***", message) if "token=" in message else message)
        if clean != message:
            record.msg = clean
            record.args = ()
        return True


def install_log_filters(loggers: tuple[str, ...] = ("", "uvicorn", "uvicorn.error", "uvicorn.access")) -> None:
    """Process setup for ``xueliang web run`` (after uvicorn configured logging): filter every handler."""
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, SafeLogRecords) for f in handler.filters):
                handler.addFilter(SafeLogRecords())

