"""ONVIF events over a PullPoint subscription, turned into alerts for ``command/``.

Cameras raise their own alarms (motion, tamper/scene change, line crossing,
intrusion). We subscribe once per device with CreatePullPointSubscription, pull
in a loop (long-poll: the device holds PullMessages until an event or the pull
timeout), renew before the subscription expires and resubscribe when the device
forgot it (reboot). Each rising alarm becomes an :class:`OnvifEvent`;
:func:`event_to_alert` gives the ``command.AlertIn`` fields (rule_kind
``"onvif_event"``). ``devices`` must not import ``command`` (dependencies point
the other way), so the alert is a plain dict the caller validates with
``command.AlertIn(**fields)``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree
from zeep.plugins import Plugin
from zeep.wsa import WsAddressingPlugin

from devices.onvif.errors import OnvifAuthError, OnvifError, OnvifNotSupported, OnvifProtocolError, OnvifTimeout
from devices.onvif.soap import call

if TYPE_CHECKING:
    from devices.onvif.client import OnvifCamera
    from devices.registry.schema import Camera

log = logging.getLogger(__name__)

TT = "http://www.onvif.org/ver10/schema"
WSNT = "http://docs.oasis-open.org/wsn/b-2"


class _CaptureEnvelope(Plugin):
    """Keeps the last reply envelope: zeep drops the mixed-content text of ``wsnt:Topic``."""

    def __init__(self) -> None:
        self.last: etree._Element | None = None

    def ingress(self, envelope: etree._Element, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        self.last = envelope
        return envelope, http_headers

# Topic fragment -> alarm kind, first match wins. Covers the ONVIF standard topics
# plus the spellings Hikvision/Dahua/Uniview firmwares use.
_TOPIC_KINDS: tuple[tuple[str, str], ...] = (
    ("linedetector", "line_crossing"),
    ("linecrossing", "line_crossing"),
    ("tripwire", "line_crossing"),
    ("fielddetector", "intrusion"),
    ("intrusion", "intrusion"),
    ("tamper", "tamper"),
    ("globalscenechange", "tamper"),
    ("imagetooblurry", "tamper"),
    ("imagetoodark", "tamper"),
    ("imagetoobright", "tamper"),
    ("videoloss", "video_loss"),
    ("signalloss", "video_loss"),
    ("motion", "motion"),
)
# Data items that carry the alarm state; a topic without any (e.g. LineDetector/Crossed) is a pulse.
_STATE_ITEMS = ("IsMotion", "State", "IsTamper", "IsInside", "Active", "LogicalState", "IsCrossed")

ALERT_RULE_KIND = "onvif_event"


@dataclass(frozen=True)
class OnvifEvent:
    """One notification from a device, decoded."""

    device: str
    topic: str  # e.g. "tns1:RuleEngine/CellMotionDetector/Motion"
    kind: str  # motion | tamper | line_crossing | intrusion | video_loss | other
    active: bool  # alarm state after this notification (pulses are active)
    utc_time: dt.datetime  # on our clock (device timestamp minus the measured clock offset)
    operation: str  # Initialized | Changed | Deleted | "" (pulse)
    source: dict[str, str] = field(default_factory=dict)  # e.g. {"VideoSourceConfigurationToken": "vsc1", "Rule": "Line1"}
    data: dict[str, str] = field(default_factory=dict)  # e.g. {"IsMotion": "true"}
    device_time: dt.datetime | None = None  # the timestamp as the device wrote it

    @property
    def is_alarm(self) -> bool:
        """A new alarm worth an alert: a known kind going active, not the initial state dump."""
        return self.kind != "other" and self.active and self.operation != "Initialized"


def classify_topic(topic: str) -> str:
    low = topic.lower()
    for fragment, kind in _TOPIC_KINDS:
        if fragment in low:
            return kind
    return "other"


def _simple_items(parent: etree._Element | None) -> dict[str, str]:
    if parent is None:
        return {}
    return {item.get("Name", ""): item.get("Value", "") for item in parent.iter(f"{{{TT}}}SimpleItem")}


def _parse_time(value: str | None) -> dt.datetime:
    if value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        except ValueError:
            pass
    return dt.datetime.now(dt.UTC)


def parse_notification(
    device: str, topic: str, message: etree._Element | None, clock_offset: dt.timedelta = dt.timedelta(0)
) -> OnvifEvent:
    """Decode one ``wsnt:NotificationMessage`` (topic text + the ``tt:Message`` element)."""
    msg = message
    if msg is not None and msg.tag != f"{{{TT}}}Message":
        found = msg.find(f".//{{{TT}}}Message")
        msg = found if found is not None else msg
    source = _simple_items(msg.find(f"{{{TT}}}Source") if msg is not None else None)
    data = _simple_items(msg.find(f"{{{TT}}}Data") if msg is not None else None)
    state = next((data[k] for k in _STATE_ITEMS if k in data), None)
    active = True if state is None else state.strip().lower() in ("true", "1", "active")
    device_time = _parse_time(msg.get("UtcTime") if msg is not None else None)
    return OnvifEvent(
        device=device,
        topic=topic.strip(),
        kind=classify_topic(topic),
        active=active,
        utc_time=device_time - clock_offset,
        operation=(msg.get("PropertyOperation") or "") if msg is not None else "",
        source=source,
        data=data,
        device_time=device_time,
    )


def event_to_alert(
    event: OnvifEvent,
    *,
    camera_id: str,
    camera_name: str,
    jurisdiction_code: str,
    lat: float | None = None,
    lon: float | None = None,
    frame_width: int = 1920,
    frame_height: int = 1080,
) -> dict[str, Any]:
    """The ``command.AlertIn`` fields for a camera-side alarm (see docs/ARCHITECTURE.md).

    ``alert_id`` is derived from the event itself, so the same notification pulled
    twice (after a resubscribe) is the same alert for command's idempotent intake.
    A camera-side alarm has no boxes; the frame size (required > 0 by the contract)
    should be the channel's analysed resolution when known.
    """
    source_key = ",".join(f"{k}={v}" for k, v in sorted(event.source.items()))
    identity = f"{camera_id}|{event.topic}|{event.utc_time.isoformat()}|{source_key}"
    return {
        "alert_id": uuid.uuid5(uuid.NAMESPACE_URL, "onvif:" + identity).hex,
        "camera_id": camera_id,
        "camera_name": camera_name,
        "jurisdiction_code": jurisdiction_code,
        "lat": lat,
        "lon": lon,
        "rule_id": f"onvif:{event.kind}",
        "rule_kind": ALERT_RULE_KIND,
        "object_class": event.kind,
        "confidence": 1.0,
        "track_id": None,
        "ts": event.utc_time,
        "boxes": [],
        "frame_width": frame_width,
        "frame_height": frame_height,
        # one open alert per camera, alarm kind and alarm source (rule / video source)
        "dedup_key": f"{camera_id}:onvif:{event.kind}:" + hashlib.sha1(source_key.encode()).hexdigest()[:12],
        "clip_path": None,
    }


def camera_alert(event: OnvifEvent, camera: Camera) -> dict[str, Any]:
    """:func:`event_to_alert` for a registry ``devices.Camera`` (id, name, jurisdiction, position, frame)."""
    position = getattr(camera, "position", None)
    frame = getattr(camera, "frame", None)
    frame_width = getattr(frame, "width", None) or 1920
    frame_height = getattr(frame, "height", None) or 1080
    return event_to_alert(
        event,
        camera_id=camera.id,
        camera_name=camera.name,
        jurisdiction_code=camera.jurisdiction,
        lat=getattr(position, "lat", None),
        lon=getattr(position, "lon", None),
        frame_width=frame_width,
        frame_height=frame_height,
    )


class PullPointSubscription:
    """A PullPoint subscription on one camera. Use as a context manager so it is unsubscribed.

        with cam.pullpoint() as sub:
            for event in sub.pull():          # one long-poll
                if event.is_alarm: ...
    """

    def __init__(
        self,
        camera: "OnvifCamera",
        *,
        termination: dt.timedelta = dt.timedelta(minutes=10),
        pull_timeout: dt.timedelta = dt.timedelta(seconds=5),
        message_limit: int = 100,
        topic_filter: str | None = None,
    ) -> None:
        self.camera = camera
        self.termination = termination
        self.pull_timeout = pull_timeout
        self.message_limit = message_limit
        self.topic_filter = topic_filter
        self.address: str | None = None
        self.termination_time: dt.datetime | None = None
        self._pull_service: Any = None
        self._manager_service: Any = None
        self._capture = _CaptureEnvelope()

    @property
    def device(self) -> str:
        return self.camera.name

    def subscribe(self) -> str:
        caps = self.camera.capabilities()
        if not caps.events:
            raise OnvifNotSupported(self.device, "CreatePullPointSubscription", "the device has no Events service")
        params: dict[str, Any] = {"InitialTerminationTime": _duration(self.termination)}
        if self.topic_filter:
            params["Filter"] = {"_value_1": _topic_expression(self.topic_filter)}
        r = self.camera._call("events", "CreatePullPointSubscription", **params)
        address = _address(getattr(r, "SubscriptionReference", None))
        if not address:
            raise OnvifProtocolError(self.device, "CreatePullPointSubscription", "reply has no SubscriptionReference address")
        self.address = address
        self.termination_time = _aware(getattr(r, "TerminationTime", None)) or self.camera.clock.device_now() + self.termination
        # PullMessages is a long-poll: the HTTP read timeout must outlast it.
        http_timeout = self.camera.timeout + self.pull_timeout.total_seconds()
        self._capture = _CaptureEnvelope()
        self._pull_service = self.camera._bound_service("pullpoint", address, http_timeout, plugins=[WsAddressingPlugin(), self._capture])
        self._manager_service = self.camera._bound_service("subscription", address, self.camera.timeout, plugins=[WsAddressingPlugin()])
        log.info("%s: PullPoint subscription created", self.device)
        return address

    def pull(self) -> list[OnvifEvent]:
        """One PullMessages long-poll. Renews or resubscribes as needed. Returns every decoded notification."""
        if self._pull_service is None:
            self.subscribe()
        elif self._expires_soon():
            try:
                self.renew()
            except (OnvifProtocolError, OnvifNotSupported) as exc:
                log.warning("%s: Renew failed (%s); resubscribing", self.device, exc.detail)
                self.subscribe()
        self._capture.last = None
        try:
            r = call(
                self.device, "PullMessages",
                lambda: self._pull_service.PullMessages(Timeout=self.pull_timeout, MessageLimit=self.message_limit),
            )
        except (OnvifProtocolError, OnvifNotSupported) as exc:
            # The device dropped the subscription (reboot, expiry): subscribe again once.
            log.warning("%s: PullMessages failed (%s); resubscribing", self.device, exc.detail)
            self.subscribe()
            r = call(
                self.device, "PullMessages",
                lambda: self._pull_service.PullMessages(Timeout=self.pull_timeout, MessageLimit=self.message_limit),
            )
        if getattr(r, "TerminationTime", None) is not None:
            self.termination_time = _aware(r.TerminationTime)
        envelope = self._capture.last
        if envelope is None:
            return []
        events = []
        for note in envelope.iter(f"{{{WSNT}}}NotificationMessage"):
            topic_el = note.find(f"{{{WSNT}}}Topic")
            topic = "".join(topic_el.itertext()) if topic_el is not None else ""
            message = note.find(f"{{{WSNT}}}Message")
            element = next(iter(message), None) if message is not None else None
            events.append(parse_notification(self.device, topic, element, self.camera.clock.offset))
        return events

    def alarms(self, max_pulls: int | None = None) -> Iterator[OnvifEvent]:
        """Yield alarm events forever (or for ``max_pulls`` pulls). Device failures raise; see :func:`watch_alarms`."""
        pulls = 0
        while max_pulls is None or pulls < max_pulls:
            pulls += 1
            for event in self.pull():
                if event.is_alarm:
                    yield event

    def renew(self) -> None:
        if self._manager_service is None:
            self.subscribe()
            return
        r = call(self.device, "Renew", lambda: self._manager_service.Renew(TerminationTime=_duration(self.termination)))
        # A reply without TerminationTime still renewed for the requested duration.
        self.termination_time = _aware(getattr(r, "TerminationTime", None)) or self.camera.clock.device_now() + self.termination

    def unsubscribe(self) -> None:
        if self._manager_service is None:
            return
        try:
            call(self.device, "Unsubscribe", self._manager_service.Unsubscribe)
        except OnvifError as exc:
            log.info("%s: Unsubscribe failed (%s); the device will expire it", self.device, exc.detail)
        finally:
            self._pull_service = self._manager_service = None
            self.address = None

    def _expires_soon(self) -> bool:
        if self.termination_time is None:
            return False
        device_now = self.camera.clock.device_now()
        return self.termination_time - device_now < max(self.termination / 4, dt.timedelta(seconds=10))

    def __enter__(self) -> "PullPointSubscription":
        self.subscribe()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


def _duration(value: dt.timedelta) -> str:
    # wsnt:AbsoluteOrRelativeTimeType is a union zeep cannot serialise from a timedelta.
    return f"PT{max(1, int(value.total_seconds()))}S"


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return _parse_time(str(value))


def _address(reference: Any) -> str:
    if reference is None:
        return ""
    address = getattr(reference, "Address", None)
    inner = getattr(address, "_value_1", None)
    return str(inner if inner is not None else address or "")


def _topic_expression(expression: str) -> etree._Element:
    el = etree.Element(
        "{http://docs.oasis-open.org/wsn/b-2}TopicExpression",
        Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet",
        nsmap={"wsnt": "http://docs.oasis-open.org/wsn/b-2", "tns1": "http://www.onvif.org/ver10/topics"},
    )
    el.text = expression
    return el


# Device-health vocabulary shared with devices' health monitor.
_LINK_STATUS: tuple[tuple[type[OnvifError], str], ...] = (
    (OnvifAuthError, "auth_failed"),
    (OnvifTimeout, "offline"),  # includes OnvifConnectionError
    (OnvifNotSupported, "unsupported"),
    (OnvifProtocolError, "protocol_error"),
)


def watch_alarms(
    camera: "OnvifCamera",
    on_alarm: Callable[[OnvifEvent], None],
    stop: threading.Event,
    *,
    on_status: Callable[[str, str], None] | None = None,
    pull_timeout: dt.timedelta = dt.timedelta(seconds=5),
    max_backoff_s: float = 60.0,
    topic_filter: str | None = None,
) -> None:
    """Keep a PullPoint subscription alive until ``stop`` is set; hand every alarm to ``on_alarm``.

    Survives device reboots, network loss and clock changes: on any failure it
    reports the link status (``online``, ``offline``, ``auth_failed``,
    ``protocol_error``, ``unsupported``) through ``on_status`` when it changes,
    backs off exponentially (1 s → ``max_backoff_s``), re-measures the clock and
    subscribes again. Returns when ``stop`` is set (within one ``pull_timeout``),
    or when the device has no Events service (status ``unsupported``). An exception
    in ``on_alarm`` is logged and the link stays up. Run one per camera in a thread.
    """
    last: list[str] = []

    def report(status: str, reason: str) -> None:
        if not last or last[-1] != status:
            last[:] = [status]
            log.info("%s: event link %s%s", camera.name, status, f" ({reason})" if reason else "")
            if on_status is not None:
                on_status(status, reason)

    backoff = 1.0
    first = True
    while not stop.is_set():
        sub = PullPointSubscription(camera, pull_timeout=pull_timeout, topic_filter=topic_filter)
        try:
            if not first:
                camera.connect()  # the device may have rebooted with another clock or address map
            first = False
            sub.subscribe()
            report("online", "")
            backoff = 1.0
            while not stop.is_set():
                for event in sub.pull():
                    if event.is_alarm:
                        try:
                            on_alarm(event)
                        except Exception:  # noqa: BLE001 (a failing consumer must not stop the camera's event link)
                            log.exception("%s: alarm handler failed for %s", camera.name, event.topic)
        except Exception as exc:  # noqa: BLE001 (one odd device must not end its watcher for good)
            if isinstance(exc, OnvifError):
                status = next((name for cls, name in _LINK_STATUS if isinstance(exc, cls)), "protocol_error")
                reason = str(exc)
            else:
                log.exception("%s: unexpected error in the event link", camera.name)
                status, reason = "protocol_error", f"{type(exc).__name__}: {exc}"
            report(status, reason)
            if status == "unsupported":
                return
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)
        finally:
            sub.unsubscribe()
