"""Device-fault work orders from the ``device.status`` events on ``xl:events``.

The analytics worker publishes a ``device.status`` event whenever a channel changes
status (see ``devices/health/events.py``; payload: camera_id, camera_name,
jurisdiction_code, status, reason, since, last_frame_at, faults, metrics).
:class:`DeviceFaultConsumer` reads them in its own consumer group
``command-device-faults`` and keeps per camera the current fault episode:

* a camera in a fault status (offline, auth_failed, no_signal, degraded) —
  statuses may change inside one episode, e.g. offline → degraded — for at least
  the grace period opens ONE incident of category ``device_fault`` (设备故障,
  雪亮运维中心) with source ``device``. The grace is checked on every event and on a
  periodic :meth:`tick`, so a camera that goes silent after its last event still
  gets its work order;
* a further fault of a camera whose device-fault incident still needs work
  (a working state) merges into it as another source; once that incident is
  resolved or closed, the next fault opens a new one;
* ``online`` ends the episode and, when an open device-fault incident exists,
  appends ``device_online`` (设备恢复在线) by the system to its timeline and
  publishes ``incident.updated``. It does not close the incident: the state
  machine has no system transition to ``resolved``/``closed`` (those are a
  maintainer's and an operator's acts), so a maintainer confirms the repair;
* ``unknown`` (nobody watches the channel) ends the episode without any work order.

Delivery is at least once: entries are acknowledged after the database commit,
together with the per-camera state, which lives in the Redis hash
``xl:device-faults`` so a restart neither forgets a silent camera nor repeats
work. Every fault spell has the source ref ``<camera>:<status>:<since>``; the
unique (kind, ref) of ``incident_sources`` makes a redelivered event or a repeated
tick a no-op, and a recovery is recorded once per ``online`` spell.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from command.catalog import ensure_category
from command.db import Database
from command.incidents import audit, incident_row, merge_source, new_incident
from command.models import AuditEvent, Incident, IncidentSource, OutboxEvent, utcnow
from command.outbox import Outbox, stage
from command.streams import EVENTS_STREAM, ConsumerGroup, event_entry
from command.workflow import WORKING_STATES, Actor
from command.views import NameCache, incident_payload

log = logging.getLogger("command.device_faults")

DEVICE_FAULT_GROUP = "command-device-faults"
DEVICE_FAULTS = ConsumerGroup(EVENTS_STREAM, DEVICE_FAULT_GROUP)
STATE_KEY = "xl:device-faults"
CATEGORY = "device_fault"
SOURCE = "device"
DEFAULT_GRACE = timedelta(seconds=300)
FAULT_STATUSES = {"offline": "离线", "auth_failed": "认证失败", "no_signal": "无信号", "degraded": "图像异常"}
RECOVERED_ACTION = "device_online"
_DEVICE_STATUS_MARK = b"device.status"


class BadStatusEvent(ValueError):
    """A ``device.status`` payload lacking what a work order needs."""


@dataclass
class CameraFault:
    """What the consumer knows about one camera (one JSON value of the ``xl:device-faults`` hash)."""

    camera_id: str
    camera_name: str
    jurisdiction_code: str
    status: str
    reason: str
    since: str  # ISO: when the current status began
    episode_since: str | None = None  # ISO: when the current run of fault statuses began; None = not in fault
    last_frame_at: str | None = None
    faults: dict[str, str] = field(default_factory=dict)
    reported: bool = False  # this episode already has its work order
    recovered_ref: str | None = None  # the online spell already written on a timeline

    @property
    def spell_ref(self) -> str:
        return f"{self.camera_id}:{self.status}:{self.since}"[:128]


def _parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise BadStatusEvent(f"payload.{name} must be an ISO datetime, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadStatusEvent(f"payload.{name}: {exc}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_status(event: dict[str, Any]) -> CameraFault:
    """The camera's status from one ``device.status`` event (raises :class:`BadStatusEvent`)."""
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise BadStatusEvent("device.status event without a payload object")
    for name in ("camera_id", "jurisdiction_code", "status"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise BadStatusEvent(f"payload.{name} is missing or not a string")
    since = _parse_time(payload.get("since"), "since")
    if payload.get("last_frame_at") is not None:
        _parse_time(payload["last_frame_at"], "last_frame_at")
    code = payload["jurisdiction_code"]
    if not code.isdigit() or len(code) not in (6, 9, 12, 15):
        raise BadStatusEvent(f"payload.jurisdiction_code {code!r} is not a 6/9/12/15-digit jurisdiction code")
    faults = payload.get("faults") or {}
    return CameraFault(
        camera_id=payload["camera_id"], camera_name=str(payload.get("camera_name") or payload["camera_id"]),
        jurisdiction_code=code, status=payload["status"], reason=str(payload.get("reason") or ""),
        since=since.isoformat(), last_frame_at=payload.get("last_frame_at"),
        faults={str(k): str(v) for k, v in faults.items()} if isinstance(faults, dict) else {},
    )


@dataclass
class DeviceFaultStats:
    status_events: int = 0
    opened: int = 0
    merged: int = 0
    duplicates: int = 0
    recoveries: int = 0
    rejected: int = 0
    ticks: int = 0


@dataclass
class DeviceFaultConsumer:
    """Consumer ``consumer_name`` of group ``command-device-faults`` on ``xl:events``.

    Drive it with :meth:`step` (read and handle one batch) and :meth:`tick` (open the
    work orders whose grace ran out without a new event); ``AlertConsumer.run`` does both.
    """

    database: Database
    redis_client: redis.Redis
    consumer_name: str = field(default_factory=lambda: f"{socket.gethostname()}-device-faults")
    grace: timedelta = DEFAULT_GRACE
    clock: Callable[[], datetime] = utcnow
    batch_size: int = 1000
    stats: DeviceFaultStats = field(default_factory=DeviceFaultStats)
    names: NameCache = field(default_factory=NameCache)
    actor: Actor = field(default_factory=lambda: Actor.system("command-device-faults"))
    outbox: Outbox = field(init=False)  # on database and redis_client
    _cameras: dict[str, CameraFault] | None = field(default=None, init=False)
    _own_pending: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.database, self.redis_client)

    def ensure_group(self) -> None:
        # From the start of the stream: replaying the kept history in order rebuilds each
        # camera's status, so a camera already faulty when this group is created is not missed.
        DEVICE_FAULTS.ensure(self.redis_client)

    @property
    def cameras(self) -> dict[str, CameraFault]:
        if self._cameras is None:
            stored = self.redis_client.hgetall(STATE_KEY)
            self._cameras = {}
            for key, value in stored.items():
                try:
                    self._cameras[key.decode() if isinstance(key, bytes) else key] = CameraFault(**json.loads(value))
                except (TypeError, ValueError) as exc:
                    log.error("dropping unreadable state of camera %r in %s: %s", key, STATE_KEY, exc)
        return self._cameras

    def resume(self) -> None:
        """Start again from what Redis holds — the saved state and the pending entries (after a takeover)."""
        self._forget()

    def _forget(self) -> None:
        """Drop the in-memory state after a failed commit: the next call reloads what Redis holds."""
        self._cameras = None
        self._own_pending = True

    # ---- reading ----------------------------------------------------------------------------

    def step(self) -> int:
        """Handle one batch of ``xl:events`` (own pending entries first, never blocking). Returns entries read."""
        entries = self._read("0") if self._own_pending else []
        if not entries:
            self._own_pending = False
            entries = self._read(">")
        if entries:
            self.process(entries)
        return len(entries)

    def _read(self, stream_id: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        # An entry trimmed away while pending comes back without fields: acknowledged as nothing to do.
        return DEVICE_FAULTS.read(self.redis_client, self.consumer_name, stream_id, count=self.batch_size)

    def process(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Apply the ``device.status`` entries in order, commit, then save the state and XACK in one MULTI."""
        events: list[dict[str, Any]] = []
        for entry_id, fields in entries:
            # bytes keys from this module's client; str keys from a decode_responses client
            value: bytes | str = next((v for k, v in fields.items() if k in (b"event", "event")), b"")
            raw = value.encode() if isinstance(value, str) else value
            if _DEVICE_STATUS_MARK not in raw:  # incident.* and other events: not ours, skip the JSON parse
                continue
            try:
                event = json.loads(raw)
                if event.get("type") != "device.status":
                    continue
                events.append({"entry": entry_id, "status": parse_status(event)})
            except (ValueError, AttributeError) as exc:
                # Bad input loses nothing else: logged with the entry id and skipped (web shows it as is).
                self.stats.rejected += 1
                log.error("device.status entry %s ignored: %s", entry_id.decode() if isinstance(entry_id, bytes) else entry_id, exc)
        changed: dict[str, CameraFault] = {}
        staged: list[OutboxEvent] = []
        if events:
            now = self.clock()
            try:
                with self.database.session() as session:
                    published: list[dict[str, str]] = []
                    for item in events:
                        camera = self._apply(session, item["status"], now, published)
                        changed[camera.camera_id] = camera
                        self.stats.status_events += 1
                    staged = stage(session, published)
            except BaseException:
                self._forget()  # the entries stay pending and are re-applied to the saved state
                raise
        try:
            self._finish(changed, staged, [eid for eid, _ in entries])
        except BaseException:
            self._forget()  # committed but not acknowledged: redelivery finds the refs and adds nothing
            raise

    def tick(self) -> int:
        """Open the work orders of cameras whose fault outlasted the grace without a new event. Returns how many."""
        now = self.clock()
        due = [c for c in self.cameras.values()
               if c.episode_since and not c.reported and now - datetime.fromisoformat(c.episode_since) >= self.grace]
        self.stats.ticks += 1
        if not due:
            return 0
        published: list[dict[str, str]] = []
        try:
            with self.database.session() as session:
                for camera in due:
                    self._report(session, camera, now, published)
                staged = stage(session, published)
            self._finish({c.camera_id: c for c in due}, staged, [])
        except BaseException:
            self._forget()
            raise
        return len(due)

    def _finish(self, changed: dict[str, CameraFault], staged: list[OutboxEvent], ack: list[bytes]) -> None:
        """Save the state, push the committed events (outbox) and XACK in one MULTI."""
        pipe = self.redis_client.pipeline(transaction=True)
        for camera_id, camera in changed.items():
            pipe.hset(STATE_KEY, camera_id, json.dumps(asdict(camera), ensure_ascii=False))
        if staged:
            self.outbox.push(pipe, staged)
        if ack:
            pipe.xack(EVENTS_STREAM, DEVICE_FAULT_GROUP, *ack)
        pipe.execute()
        self.outbox.pushed(staged)  # marked sent by confirm() once Redis has them on disk

    # ---- decisions --------------------------------------------------------------------------

    def _apply(self, session: Session, new: CameraFault, now: datetime, published: list[dict[str, str]]) -> CameraFault:
        old = self.cameras.get(new.camera_id)
        if new.status in FAULT_STATUSES:
            if old is not None and old.episode_since is not None:
                new.episode_since, new.reported = old.episode_since, old.reported  # the same run of faults
            else:
                new.episode_since = new.since
            new.recovered_ref = old.recovered_ref if old else None
            self.cameras[new.camera_id] = new
            if new.reported or now - datetime.fromisoformat(new.episode_since) >= self.grace:
                self._report(session, new, now, published)
            return new
        # online or unknown (or a status this version does not know): the fault episode is over.
        new.recovered_ref = old.recovered_ref if old else None
        self.cameras[new.camera_id] = new
        if new.status == "online" and new.spell_ref != new.recovered_ref:
            self._recover(session, new, now, published)
            new.recovered_ref = new.spell_ref
        return new

    def _open_incident(self, session: Session, camera_id: str) -> Incident | None:
        """The camera's device-fault incident that still needs work, if any."""
        return session.scalar(
            select(Incident)
            .where(Incident.place_key == f"camera:{camera_id}", Incident.category_code == CATEGORY,
                   Incident.status.in_(tuple(WORKING_STATES)))
            .order_by(Incident.id.desc()).limit(1)
        )

    def _report(self, session: Session, camera: CameraFault, now: datetime, published: list[dict[str, str]]) -> None:
        """Open the work order for this fault spell, or merge it into the camera's open one (idempotent by ref)."""
        camera.reported = True
        ref = camera.spell_ref
        label = FAULT_STATUSES.get(camera.status, camera.status)
        summary = f"{label}: {camera.reason}" if camera.reason else label
        payload = {"camera_id": camera.camera_id, "camera_name": camera.camera_name, "status": camera.status,
                   "reason": camera.reason, "since": camera.since, "fault_since": camera.episode_since,
                   "last_frame_at": camera.last_frame_at, "faults": camera.faults}
        existing = session.scalar(select(IncidentSource).where(IncidentSource.kind == SOURCE, IncidentSource.ref == ref))
        if existing is not None:
            self.stats.duplicates += 1
            return
        since_at = datetime.fromisoformat(camera.since)
        target = self._open_incident(session, camera.camera_id)
        if target is not None:
            merge_source(session, target, actor=self.actor, kind=SOURCE, ref=ref, now=now, reported_at=since_at,
                         summary=summary, payload=payload)
            session.flush()
            self.stats.merged += 1
            published.append(self._event(session, target, "incident.updated"))
            return
        category = ensure_category(session, CATEGORY)
        fault_since = datetime.fromisoformat(camera.episode_since or camera.since)
        description = (f"摄像机 {camera.camera_name}（{camera.camera_id}）{label}：{camera.reason or '无说明'}。"
                       f"故障开始于 {fault_since.isoformat()}，当前状态开始于 {camera.since}"
                       + (f"，最后一帧 {camera.last_frame_at}" if camera.last_frame_at else "，未收到画面") + "。")
        row = incident_row(
            source=SOURCE, title=f"{category.name} · {camera.camera_name}: {summary}",
            jurisdiction_code=camera.jurisdiction_code, category=category, now=now, description=description,
            place_key=f"camera:{camera.camera_id}", reported_at=since_at, camera_id=camera.camera_id,
            camera_name=camera.camera_name,
        )
        incident = new_incident(session, row, actor=self.actor, ref=ref, now=now, source_summary=summary,
                                source_payload=payload)
        session.flush()
        self.stats.opened += 1
        published.append(self._event(session, incident, "incident.created"))

    def _recover(self, session: Session, camera: CameraFault, now: datetime, published: list[dict[str, str]]) -> None:
        incident = self._open_incident(session, camera.camera_id)
        if incident is None:
            return
        ref = camera.spell_ref
        seen = session.scalars(select(AuditEvent.detail).where(AuditEvent.incident_id == incident.id,
                                                               AuditEvent.action == RECOVERED_ACTION))
        if any(detail.get("ref") == ref for detail in seen):  # state lost after the commit: already recorded
            return
        audit(session, self.actor, RECOVERED_ACTION, incident=incident, from_status=incident.status,
              to_status=incident.status, now=now,
              detail={"note": "设备恢复在线", "camera_id": camera.camera_id, "since": camera.since,
                      "last_frame_at": camera.last_frame_at, "reason": camera.reason, "ref": ref})
        incident.updated_at = now
        session.flush()
        self.stats.recoveries += 1
        published.append(self._event(session, incident, "incident.updated"))

    def _event(self, session: Session, incident: Incident, kind: str) -> dict[str, str]:
        return event_entry(kind, incident.jurisdiction_code, incident_payload(session, incident, self.names))
