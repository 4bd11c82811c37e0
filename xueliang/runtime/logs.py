"""Log output of every ``xueliang`` process: one line per record, as text (default) or JSON lines.

``XUELIANG_LOG_FORMAT=json`` turns each record into one JSON object (``timestamp`` in UTC ISO
8601, ``level``, ``logger``, ``event`` and ``exception`` when there is one) for a log shipper;
structlog renders the standard library's records, so no module changes how it logs.
"""

from __future__ import annotations

import logging
from typing import Literal

import structlog

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]


def json_formatter() -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )


def configure_logging(level: str, log_format: str) -> None:
    """Root logging for a process; ``log_format`` is ``text`` or ``json`` (anything else is refused)."""
    if log_format not in ("text", "json"):
        raise SystemExit(f"XUELIANG_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")
    logging.basicConfig(level=level.upper(), format=TEXT_FORMAT)
    if log_format == "json":
        formatter = json_formatter()
        for handler in logging.getLogger().handlers:
            handler.setFormatter(formatter)


def reformat_handlers(logger_names: tuple[str, ...], log_format: str) -> None:
    """Give handlers that a library installed itself (uvicorn's) the process's log format."""
    if log_format != "json":
        return
    formatter = json_formatter()
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(formatter)
