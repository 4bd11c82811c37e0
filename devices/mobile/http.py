"""Validation of a telemetry body (one message or a list, see :mod:`devices.mobile.telemetry`).

The answer is ``{"accepted": n, "rejected": [{"index", "unit_id", "error"}]}``: a bad message
is rejected with its reason, the good ones in the same batch are kept. web/ serves it at
``POST /api/mobile/telemetry`` (authentication and jurisdiction are web's job, through
``admit``); the MQTT bridge feeds it from the broker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from devices.mobile.telemetry import MobileTracker, Telemetry, UnknownUnitError
from devices.registry import Camera

MAX_BATCH = 1000


class Rejected(BaseModel):
    index: int
    unit_id: str | None
    error: str


class IngestResult(BaseModel):
    accepted: int
    rejected: list[Rejected]


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(message)'}: {e['msg']}" for e in exc.errors(include_url=False))


Accepted = Callable[[Telemetry, Camera], None]


def ingest_telemetry(tracker: MobileTracker, payload: bytes | str | dict[str, Any] | list[Any], *,
                     on_accept: Accepted | None = None, admit: Callable[[Telemetry], str | None] | None = None,
                     ) -> IngestResult:
    """Validate and record telemetry; raises ValueError only when the body is not JSON at all or too big.

    ``admit`` may refuse a valid report with a reason (e.g. a unit outside the sender's scope);
    ``on_accept`` is called with every new report and its unit (e.g. to publish it).
    """
    if isinstance(payload, (bytes, str)):
        try:
            payload = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"telemetry body is not JSON: {exc}") from None
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_BATCH:
        raise ValueError(f"batch of {len(items)} messages; send at most {MAX_BATCH} per request")
    accepted, rejected = 0, []
    for i, item in enumerate(items):
        unit = item.get("unit_id") if isinstance(item, dict) else None
        unit = unit if isinstance(unit, str) else None
        try:
            report = Telemetry.model_validate(item)
            refusal = admit(report) if admit is not None else None
            if refusal:
                rejected.append(Rejected(index=i, unit_id=unit, error=refusal))
                continue
            recorded = tracker.update(report)
        except ValidationError as exc:
            rejected.append(Rejected(index=i, unit_id=unit, error=_describe(exc)))
        except UnknownUnitError as exc:
            rejected.append(Rejected(index=i, unit_id=unit, error=str(exc)))
        else:
            accepted += 1
            if recorded is not None and on_accept is not None:
                on_accept(report, recorded)
    return IngestResult(accepted=accepted, rejected=rejected)
