"""Redis Stream names and the two producers other packages call.

``xl:alerts`` carries analytics alerts to the command consumer (group ``command``);
``xl:events`` carries incident/device events to the web, whose stream id is the
client's resume cursor. Both are capped with ``MAXLEN ~`` so a stalled consumer
cannot exhaust Redis memory; the cap is far above any backlog the consumer
tolerates before it is an incident in itself.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import redis
from redis.client import Pipeline
from redis.typing import EncodableT

from command.schemas import AlertIn

log = logging.getLogger("command.streams")
T = TypeVar("T")

ALERTS_STREAM = "xl:alerts"
EVENTS_STREAM = "xl:events"
CONSUMER_GROUP = "command"
ALERTS_MAXLEN = 100_000
EVENTS_MAXLEN = 100_000

EVENT_TYPES = ("incident.created", "incident.updated", "device.status", "responder.position")


@dataclass(frozen=True)
class ConsumerGroup:
    """A consumer group that survives losing it: every group read goes through :meth:`call`.

    A Redis restarted without its data (no AOF, or the last second of it lost) answers
    ``NOGROUP`` to every read, XACK and XAUTOCLAIM of a group that existed a moment ago.
    :meth:`call` then recreates the group at ``start_id`` and runs the command once more,
    so a consumer keeps going instead of crashing. ``"0"`` re-reads what the stream still
    holds, which is safe because every consumer here is idempotent (alerts by ``alert_id``,
    device status by replaying state).
    """

    stream: str
    name: str
    start_id: str = "0"

    def ensure(self, client: redis.Redis) -> bool:
        """Create the group (and the stream) if missing; True if it was created now."""
        try:
            client.xgroup_create(self.stream, self.name, id=self.start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    def call(self, client: redis.Redis, command: Callable[[], T]) -> T:
        """Run ``command`` (a group read/ack/claim); on ``NOGROUP`` recreate the group and run it again."""
        try:
            return command()
        except redis.ResponseError as exc:
            if not is_missing_group(exc):
                raise
        if self.ensure(client):
            log.warning("consumer group %s on %s was gone (Redis restarted without its data?); recreated it from %s",
                        self.name, self.stream, self.start_id)
        return command()

    def read(self, client: redis.Redis, consumer: str, stream_id: str, *, count: int,
             block: int | None = None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """XREADGROUP one batch from ``stream_id`` (``">"`` new, ``"0"`` own pending) as ``[(id, fields)]``.

        An entry trimmed away while pending comes back with ``fields`` ``{}``.
        """
        response = self.call(client, lambda: client.xreadgroup(self.name, consumer, {self.stream: stream_id},
                                                               count=count, block=block))
        batches = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]]]], response or [])  # RESP2 reply
        return [(eid, fields or {}) for _, entries in batches for eid, fields in entries]


ALERTS_GROUP = ConsumerGroup(ALERTS_STREAM, CONSUMER_GROUP)


def is_missing_group(exc: BaseException) -> bool:
    """True for the ``NOGROUP`` error Redis gives when a consumer group (or its stream) is gone."""
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("NOGROUP")


AOF_FENCE_KEY = "xl:aof:fence"


def durable_fence(client: redis.Redis, timeout_ms: int = 3000) -> bool:
    """Wait until every write Redis acknowledged before this call is fsynced to its append-only file.

    A fence write then ``WAITAOF 1 0`` on the same connection: the file is sequential, so once the
    fence is on disk so is everything before it, from any client. With ``appendfsync everysec``
    this takes up to a second. True when durable (or when the server keeps no AOF, so there is
    nothing to wait for); False on timeout. Redis errors other than "no AOF" propagate.
    """
    pipe = client.pipeline(transaction=False)
    pipe.incr(AOF_FENCE_KEY)
    pipe.execute_command("WAITAOF", 1, 0, timeout_ms)
    try:
        _, (local, _replicas) = pipe.execute()
    except redis.ResponseError as exc:
        if "appendonly is disabled" in str(exc):
            return True
        raise
    return int(local) >= 1


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def publish_alert(redis_client: redis.Redis, alert: AlertIn, snapshot_jpeg: bytes) -> str:
    """XADD one alert (JSON without the image) and its JPEG snapshot to ``xl:alerts``.

    Returns the stream entry id. ``snapshot_jpeg`` may be empty when the rule
    produced no image; the incident is then created without a snapshot.
    """
    if not isinstance(snapshot_jpeg, (bytes, bytearray, memoryview)):
        raise TypeError(f"snapshot_jpeg must be bytes, got {type(snapshot_jpeg).__name__}")
    entry_id = redis_client.xadd(
        ALERTS_STREAM,
        {"alert": alert.model_dump_json(), "snapshot": bytes(snapshot_jpeg)},
        maxlen=ALERTS_MAXLEN,
        approximate=True,
    )
    return _as_str(entry_id)


def event_entry(type: str, jurisdiction_code: str, payload: dict[str, Any]) -> dict[str, str]:  # noqa: A002
    """The ``xl:events`` fields of one event ``{"id", "type", "jurisdiction_code", "payload"}`` (a fresh id)."""
    if not type or "." not in type:
        raise ValueError(f"event type must look like 'incident.created', got {type!r}")
    if not jurisdiction_code or not jurisdiction_code.isdigit():
        raise ValueError(f"jurisdiction_code must be a digit string such as '330381101', got {jurisdiction_code!r}")
    event = {"id": uuid.uuid4().hex, "type": type, "jurisdiction_code": jurisdiction_code, "payload": payload}
    return {"event": json.dumps(event, ensure_ascii=False, default=str)}


def add_event(redis_client: redis.Redis | Pipeline, entry: dict[str, str]) -> object:
    """XADD an :func:`event_entry` to ``xl:events`` (capped); ``redis_client`` may be a pipeline."""
    fields: dict[EncodableT, EncodableT] = {key: value for key, value in entry.items()}
    return redis_client.xadd(EVENTS_STREAM, fields, maxlen=EVENTS_MAXLEN, approximate=True)


def publish_event(redis_client: redis.Redis, type: str, jurisdiction_code: str, payload: dict[str, Any]) -> str:  # noqa: A002
    """XADD one event ``{"id", "type", "jurisdiction_code", "payload"}`` to ``xl:events``.

    The web pushes it to every user whose scope is a prefix of ``jurisdiction_code``.
    Returns the stream entry id (the resume cursor).
    """
    return _as_str(add_event(redis_client, event_entry(type, jurisdiction_code, payload)))


def decode_event(fields: dict[Any, Any]) -> dict[str, Any]:
    """The event dict of one ``xl:events`` entry (bytes or str keys)."""
    raw = fields.get("event", fields.get(b"event"))
    if raw is None:
        raise ValueError("xl:events entry has no 'event' field")
    return json.loads(_as_str(raw))
