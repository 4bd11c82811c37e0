"""Device events on the ``xl:events`` Redis stream (``device.status``, ``device.position``).

Same entry layout as ``command.streams.event_entry`` (devices/ sits below command/ and must
not import it): one field ``event`` holding JSON ``{"id", "type", "jurisdiction_code",
"payload"}``. web/ pushes each to the operators whose scope covers the jurisdiction.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

EVENTS_STREAM = "xl:events"
EVENTS_MAXLEN = 100_000


class StreamWriter(Protocol):
    """The one Redis call device events need (``redis.Redis`` satisfies it)."""

    def xadd(self, name: str, fields: dict[FieldT, EncodableT], *, maxlen: int, approximate: bool) -> object: ...


def device_event(event_type: str, jurisdiction_code: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "type": event_type, "jurisdiction_code": jurisdiction_code, "payload": payload}


def publish_device_event(redis_client: StreamWriter, event: dict[str, Any], *, stream: str = EVENTS_STREAM) -> str:
    """XADD one event; returns the stream entry id."""
    entry_id = redis_client.xadd(stream, {"event": json.dumps(event, ensure_ascii=False)},
                                 maxlen=EVENTS_MAXLEN, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
