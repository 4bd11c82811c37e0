"""The platform side of GB/T 28181: the SIP server devices register to.

Handles REGISTER (digest, expiry, unregister), MESSAGE/NOTIFY with MANSCDP
(Keepalive, Catalog answers merged by SN, DeviceInfo, Alarm, MobilePosition,
RecordInfo), keepalive supervision, and asks devices for things (Catalog,
DeviceInfo, RecordInfo, MobilePosition subscription, PTZ, INVITE/BYE).
Bad input never raises out of a handler: it is answered with a 4xx where SIP
allows and logged once with who sent it and what was wrong.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiosipua.message import SipRequest

from devices.gb28181 import manscdp
from devices.gb28181.config import GbConfig
from devices.gb28181.digest import DigestVerifier
from devices.gb28181.ids import is_id, ssrc_for
from devices.gb28181.manscdp import CatalogItem, Manscdp, ManscdpError
from devices.gb28181.sdp import MediaMode, SdpAnswer, build_offer, parse_answer
from devices.gb28181.sip import Dialog, Inbound, SipEndpoint, contact_target, tag_of, user_of
from devices.gb28181.store import CatalogMerger, DeviceStore, GbDevice, Position
from devices.gb28181.subscribe import PositionSubscriptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GbAlarm:
    device_id: str  # the alarm's DeviceID: a channel or the device itself
    from_device: str
    priority: str
    method: str
    alarm_type: str
    time: str
    description: str
    lat: float | None
    lon: float | None
    received_at: float


@dataclass
class GbEvents:
    """Callbacks the composition root wires (persistence, registry, alerts, map). All optional."""

    on_device: Callable[[GbDevice, str], None] | None = None  # event: registered / unregistered / offline / online
    on_catalog: Callable[[str, list[CatalogItem], bool], None] | None = None  # device, items, complete
    on_alarm: Callable[[GbAlarm], None] | None = None
    on_position: Callable[[Position], None] | None = None


@dataclass
class Invite:
    """A live or playback session the device agreed to."""

    channel_id: str
    dialog: Dialog
    ssrc: str
    answer: SdpAnswer
    offered_ssrc: str


@dataclass
class _Query:
    future: asyncio.Future[Manscdp | list[CatalogItem] | list[dict[str, str]]]
    items: dict[str, dict[str, str]] = field(default_factory=dict)
    sum_num: int | None = None


def _gb_date(now: float) -> str:
    """``yyyy-MM-ddTHH:mm:ss.SSS`` in local time: devices set their clock from it."""
    dt = datetime.fromtimestamp(now)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


class GbPlatform:
    def __init__(self, config: GbConfig, events: GbEvents | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.events = events or GbEvents()
        self.clock = clock
        self.store = DeviceStore()
        self.merger = CatalogMerger(max_items=config.max_catalog_items, timeout_s=config.catalog_timeout_s)
        self.digest = DigestVerifier(realm=config.domain)
        self.endpoint = SipEndpoint(config.host, config.port, self._on_request, advertised_host=config.advertised_host,
                                    reply_to_via=config.reply_to_via, transaction_timeout_s=config.transaction_timeout_s)
        self._sn = itertools.count(1)
        self._ssrc_seq = itertools.count(1)
        self._queries: dict[tuple[str, str, int], _Query] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self.on_remote_bye: Callable[[str], None] | None = None  # call id of a session the device ended
        self.counters = {"registered": 0, "auth_failed": 0, "keepalives": 0, "rejected": 0, "alarms": 0, "positions": 0,
                         "alarm_responses": 0}
        self.position_subs = PositionSubscriptions(self)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> GbPlatform:
        await self.endpoint.start()
        self._watchdog = asyncio.create_task(self._watch())
        return self

    async def stop(self) -> None:
        self.position_subs.stop()
        if self._watchdog:
            self._watchdog.cancel()
        for t in list(self._tasks):
            t.cancel()
        await self.endpoint.stop()

    @property
    def port(self) -> int:
        return self.endpoint.port

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, name: str, *args: object) -> None:
        cb = getattr(self.events, name)
        if cb is None:
            return
        try:
            cb(*args)
        except Exception:
            log.exception("GB28181: %s callback failed", name)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.config.keepalive_interval_s / 4))
            now = self.clock()
            for dev in self.store.overdue(now, self.config.keepalive_interval_s, self.config.keepalive_missed):
                dev.online = False
                log.warning("GB28181: device %s offline: %s", dev.device_id, dev.offline_reason)
                self.position_subs.on_gone(dev.device_id)
                self._emit("on_device", dev, "offline")
            for device_id, sn, sum_num, items in self.merger.expire():
                log.warning("GB28181: Catalog SN %d of device %s incomplete after %.0f s: %d of SumNum %d items; keeping what arrived",
                            sn, device_id, self.config.catalog_timeout_s, len(items), sum_num)
                self._catalog_done(device_id, sn, items, complete=False)

    # -- dispatch ----------------------------------------------------------------------------
    def _on_request(self, inbound: Inbound) -> None:
        method = inbound.request.method.upper()
        if method == "REGISTER":
            self._register(inbound)
        elif method in ("MESSAGE", "NOTIFY"):
            self._message(inbound)
        elif method == "BYE":
            self.endpoint.reply(inbound, 200, "OK")
            self._emit_bye(inbound)
        elif method in ("ACK",):
            return
        elif method == "OPTIONS":
            self.endpoint.reply(inbound, 200, "OK")
        else:
            self.endpoint.reply(inbound, 405, "Method Not Allowed", headers={"Allow": "REGISTER, MESSAGE, NOTIFY, BYE, ACK, OPTIONS"})

    def _emit_bye(self, inbound: Inbound) -> None:
        call_id = inbound.request.call_id or ""
        log.info("GB28181: device %s ended call %s (BYE)", user_of(inbound.request.headers.get_first("from")), call_id)
        if self.on_remote_bye is not None:
            self.on_remote_bye(call_id)

    # -- REGISTER ----------------------------------------------------------------------------
    def _register(self, inbound: Inbound) -> None:
        req = inbound.request
        device_id = user_of(req.headers.get_first("from")) or user_of(req.headers.get_first("to"))
        src = f"{inbound.addr[0]}:{inbound.addr[1]}/{inbound.proto}"
        if not is_id(device_id):
            self.counters["rejected"] += 1
            log.warning("GB28181: REGISTER from %s refused: From user %r is not a 20-digit GB/T 28181 id", src, device_id)
            self.endpoint.reply(inbound, 400, "Bad Request")
            return
        password = self.config.password_for(device_id)
        if password is None:
            self.counters["rejected"] += 1
            log.warning("GB28181: REGISTER from unknown device %s at %s refused: no password configured "
                        "(set XUELIANG_GB28181_PASSWORD or XUELIANG_GB28181_PASSWORD_%s)", device_id, src, device_id)
            self.endpoint.reply(inbound, 403, "Forbidden")
            return
        auth = req.headers.get_first("authorization")
        if not auth:
            self.endpoint.reply(inbound, 401, "Unauthorized", headers={"WWW-Authenticate": self.digest.challenge()})
            return
        ok, reason = self.digest.check(auth, method="REGISTER", password=password)
        if not ok:
            if reason == "stale or foreign nonce":
                self.endpoint.reply(inbound, 401, "Unauthorized", headers={"WWW-Authenticate": self.digest.challenge() + ", stale=true"})
                return
            self.counters["auth_failed"] += 1
            log.warning("GB28181: REGISTER of device %s from %s refused: %s", device_id, src, reason)
            self.endpoint.reply(inbound, 403, "Forbidden")
            existing = self.store.devices.get(device_id)
            if existing is not None:
                self._emit("on_device", existing, "auth_failed")
            return
        expires = self._expires(req)
        now = self.clock()
        headers = {"Date": _gb_date(now), "Expires": str(expires)}
        contact = req.headers.get_first("contact") or ""
        if contact:
            headers["Contact"] = contact
        if expires == 0:
            dev = self.store.devices.get(device_id)
            self.endpoint.reply(inbound, 200, "OK", headers=headers)
            if dev is not None:
                dev.online = False
                dev.offline_reason = "设备注销"
                log.info("GB28181: device %s unregistered (Expires: 0)", device_id)
                self.position_subs.on_gone(device_id)
                self._emit("on_device", dev, "unregistered")
            return
        dev = self.store.devices.get(device_id)
        first = dev is None or not dev.online
        # A device keeps its REGISTER Call-ID for a boot cycle (RFC 3261 §10.2.4): a new one while we think it
        # online means it restarted and forgot its subscriptions.
        rebooted = dev is not None and dev.online and bool(dev.register_call_id) and dev.register_call_id != req.call_id
        if dev is None:
            dev = self.store.devices[device_id] = GbDevice(device_id=device_id, addr=inbound.addr, proto=inbound.proto)
        dev.addr, dev.proto, dev.contact = inbound.addr, inbound.proto, contact
        dev.register_call_id = req.call_id or ""
        dev.registered_at = dev.last_seen = now
        dev.expires_at = now + expires
        dev.online, dev.offline_reason = True, ""
        self.counters["registered"] += 1
        self.endpoint.reply(inbound, 200, "OK", headers=headers)
        if rebooted:
            log.info("GB28181: device %s registered again with a new Call-ID (restarted)", device_id)
        if rebooted or (first and not self.config.auto_query):
            self.position_subs.on_registered(device_id)  # else after the catalog: positions need its channels
        if first:
            log.info("GB28181: device %s registered from %s (expires %d s)", device_id, src, expires)
            self._emit("on_device", dev, "registered")
            if self.config.auto_query:
                self._spawn(self._after_register(device_id))

    def _expires(self, req: SipRequest) -> int:
        headers = req.headers
        raw = headers.get_first("expires")
        if raw is None:
            for c in headers.get("contact"):
                for part in c.split(";")[1:]:
                    k, _, v = part.strip().partition("=")
                    if k.lower() == "expires":
                        raw = v
        try:
            value = int(raw) if raw is not None else 3600
        except ValueError:
            value = 3600
        return max(0, min(value, self.config.register_expires_max))

    async def _after_register(self, device_id: str) -> None:
        try:
            await self.query_device_info(device_id)
        except (TimeoutError, LookupError) as exc:
            log.info("GB28181: DeviceInfo of %s not answered: %s", device_id, exc)
        try:
            await self.query_catalog(device_id)
        except (TimeoutError, LookupError) as exc:
            log.warning("GB28181: Catalog of %s not answered: %s", device_id, exc)
        self.position_subs.on_registered(device_id)

    # -- MESSAGE / NOTIFY --------------------------------------------------------------------
    def _message(self, inbound: Inbound) -> None:
        req = inbound.request
        sender = user_of(req.headers.get_first("from"))
        src = f"{inbound.addr[0]}:{inbound.addr[1]}/{inbound.proto}"
        dev = self.store.devices.get(sender)
        if dev is None or (not dev.online and dev.offline_reason == "设备注销"):
            self.counters["rejected"] += 1
            log.warning("GB28181: %s from unregistered device %r at %s refused (403); it must REGISTER first", req.method, sender, src)
            self.endpoint.reply(inbound, 403, "Forbidden")
            return
        try:
            msg = manscdp.parse(req.body)
        except ManscdpError as exc:
            self.counters["rejected"] += 1
            log.warning("GB28181: %s from device %s at %s refused: %s", req.method, sender, src, exc)
            self.endpoint.reply(inbound, 400, "Bad Request")
            return
        now = self.clock()
        dev.last_seen = now
        dev.charset = msg.charset
        if not dev.online:
            dev.online, dev.offline_reason = True, ""
            log.info("GB28181: device %s back online", sender)
            self._emit("on_device", dev, "online")
        try:
            self._manscdp(dev, msg)
        except ManscdpError as exc:
            self.counters["rejected"] += 1
            log.warning("GB28181: %s %s from device %s refused: %s", msg.root, msg.cmd_type, sender, exc)
            self.endpoint.reply(inbound, 400, "Bad Request")
            return
        self.endpoint.reply(inbound, 200, "OK")

    def _manscdp(self, dev: GbDevice, msg: Manscdp) -> None:
        cmd = msg.cmd_type
        if msg.root == "Notify" and cmd == "Keepalive":
            dev.keepalives += 1
            self.counters["keepalives"] += 1
        elif cmd == "Catalog" and msg.root == "Response":
            sum_num, items = manscdp.catalog_items(msg)
            done = self.merger.add(dev.device_id, msg.sn, sum_num, items)
            if done is not None:
                self._catalog_done(dev.device_id, msg.sn, done, complete=True)
        elif cmd == "Catalog" and msg.root == "Notify":  # catalog change notification: merge into what we have
            _, items = manscdp.catalog_items(msg) if msg.text("SumNum") else (0, [])
            known = [it for cid, (d, it) in self.store.channels.items() if d == dev.device_id]
            merged = {it.device_id: it for it in known} | {it.device_id: it for it in items}
            self.store.set_catalog(dev.device_id, list(merged.values()))
            self._emit("on_catalog", dev.device_id, list(merged.values()), True)
        elif cmd == "DeviceInfo" and msg.root == "Response":
            dev.name = msg.text("DeviceName") or dev.name
            dev.manufacturer, dev.model, dev.firmware = msg.text("Manufacturer"), msg.text("Model"), msg.text("Firmware")
            self._resolve(dev.device_id, cmd, msg.sn, msg)
        elif cmd in ("DeviceStatus", "DeviceControl", "DeviceConfig") and msg.root == "Response":
            self._resolve(dev.device_id, cmd, msg.sn, msg)
        elif cmd == "RecordInfo" and msg.root == "Response":
            self._record_part(dev.device_id, msg)
        elif cmd == "Alarm" and msg.root == "Notify":
            self._alarm(dev, msg)
        elif cmd == "MobilePosition" and msg.root == "Notify":
            self._position(dev, msg)
        else:
            log.info("GB28181: %s %s from device %s ignored (not handled)", msg.root, cmd, dev.device_id)

    def _resolve(self, device_id: str, cmd: str, sn: int, value: object) -> None:
        q = self._queries.get((device_id, cmd, sn))
        if q is not None and not q.future.done():
            q.future.set_result(value)  # type: ignore[arg-type]

    def _catalog_done(self, device_id: str, sn: int, items: list[CatalogItem], *, complete: bool) -> None:
        n_ch, n_nodes = self.store.set_catalog(device_id, items)
        log.info("GB28181: Catalog of %s%s: %d channels, %d tree nodes", device_id, "" if complete else " (incomplete)", n_ch, n_nodes)
        self._emit("on_catalog", device_id, items, complete)
        self._resolve(device_id, "Catalog", sn, items)

    def _alarm(self, dev: GbDevice, msg: Manscdp) -> None:
        def num(path: str) -> float | None:
            try:
                v = float(msg.text(path))
            except ValueError:
                return None
            return v if v == v and v != 0.0 else None
        alarm = GbAlarm(device_id=msg.device_id or dev.device_id, from_device=dev.device_id,
                        priority=msg.text("AlarmPriority"), method=msg.text("AlarmMethod"),
                        alarm_type=msg.text("Info/AlarmType") or msg.text("AlarmType"), time=msg.text("AlarmTime"),
                        description=msg.text("AlarmDescription"), lat=num("Latitude"), lon=num("Longitude"),
                        received_at=self.clock())
        self.counters["alarms"] += 1
        log.info("GB28181: alarm from %s (channel %s, method %s, priority %s)", dev.device_id, alarm.device_id, alarm.method, alarm.priority)
        self._emit("on_alarm", alarm)
        self._spawn(self._answer_alarm(dev, msg.sn, alarm.device_id))  # after the 200 OK that _message sends now

    async def _answer_alarm(self, dev: GbDevice, sn: int, device_id: str) -> None:
        """GB/T 28181 §9.4: the platform answers an alarm notification with ``Response Alarm`` (same SN, Result OK);
        devices that get none repeat the alarm."""
        body = manscdp.build("Response", "Alarm", sn, device_id, {"Result": "OK"}, charset=dev.charset)
        try:
            resp = await self.endpoint.send_request(self._message_request(dev, dev.device_id, body), dev.addr, dev.proto)  # type: ignore[arg-type]
        except TimeoutError as exc:
            log.warning("GB28181: Response Alarm (SN %d) to %s not acknowledged: %s", sn, dev.device_id, exc)
            return
        if resp.status_code < 300:
            self.counters["alarm_responses"] += 1
        else:
            log.warning("GB28181: device %s answered our Response Alarm (SN %d) with %d", dev.device_id, sn, resp.status_code)

    def _position(self, dev: GbDevice, msg: Manscdp) -> None:
        try:
            lat, lon = float(msg.text("Latitude")), float(msg.text("Longitude"))
        except ValueError:
            raise ManscdpError("MobilePosition without numeric Latitude/Longitude") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ManscdpError(f"MobilePosition {lat},{lon} outside the globe")

        def opt(path: str) -> float | None:
            try:
                return float(msg.text(path))
            except ValueError:
                return None
        pos = Position(device_id=msg.device_id or dev.device_id, lat=lat, lon=lon, time=msg.text("Time"),
                       speed=opt("Speed"), direction=opt("Direction"), received_at=self.clock())
        self.store.positions[pos.device_id] = pos
        self.counters["positions"] += 1
        self._emit("on_position", pos)

    def _record_part(self, device_id: str, msg: Manscdp) -> None:
        q = self._queries.get((device_id, "RecordInfo", msg.sn))
        if q is None:
            return
        try:
            q.sum_num = int(msg.text("SumNum") or "0")
        except ValueError:
            raise ManscdpError(f"RecordInfo SumNum {msg.text('SumNum')!r} is not a number") from None
        if not 0 <= q.sum_num <= self.config.max_catalog_items:
            raise ManscdpError(f"RecordInfo SumNum {q.sum_num} out of range")
        for item in msg.element.iter("Item"):
            rec = {child.tag: (child.text or "").strip() for child in item}
            q.items[f"{rec.get('StartTime')}|{rec.get('EndTime')}|{rec.get('DeviceID')}"] = rec
        if len(q.items) >= q.sum_num and not q.future.done():
            q.future.set_result(sorted(q.items.values(), key=lambda r: r.get("StartTime", "")))

    # -- asking devices ----------------------------------------------------------------------
    def next_sn(self) -> int:
        return next(self._sn)

    def device(self, device_id: str) -> GbDevice:
        """The online device of a device or channel id; LookupError when unknown or offline."""
        return self._device(device_id)

    def _device(self, device_id: str) -> GbDevice:
        dev = self.store.device_of(device_id)
        if dev is None:
            raise LookupError(f"GB28181 device or channel {device_id} is not registered")
        if not dev.online:
            raise LookupError(f"GB28181 device {dev.device_id} is offline ({dev.offline_reason})")
        return dev

    def _message_request(self, dev: GbDevice, target_id: str, body: bytes) -> object:
        return self.endpoint.make_request("MESSAGE", to_uri=f"sip:{target_id}@{dev.device_id[:10]}",
                                          from_user=self.config.platform_id, from_domain=self.config.domain,
                                          proto=dev.proto, body=body)  # type: ignore[arg-type]

    async def query(self, target_id: str, cmd_type: str, fields: dict[str, object] | None = None, *,
                    root: str = "Query", timeout_s: float = 10.0, expect_response: bool = True) -> object:
        """Send a MANSCDP Query/Control and await the Response with the same SN (merged for Catalog/RecordInfo)."""
        dev = self._device(target_id)
        sn = next(self._sn)
        body = manscdp.build(root, cmd_type, sn, target_id, fields, charset=dev.charset)
        key = (dev.device_id, cmd_type, sn)
        q = _Query(asyncio.get_running_loop().create_future())
        if expect_response:
            self._queries[key] = q
        try:
            req = self._message_request(dev, target_id, body)
            resp = await self.endpoint.send_request(req, dev.addr, dev.proto)  # type: ignore[arg-type]
            if resp.status_code >= 300:
                raise LookupError(f"device {dev.device_id} answered {cmd_type} with {resp.status_code} {resp.reason_phrase}")
            if not expect_response:
                return None
            return await asyncio.wait_for(q.future, timeout_s)
        finally:
            self._queries.pop(key, None)

    async def query_catalog(self, device_id: str, timeout_s: float | None = None) -> list[CatalogItem]:
        return await self.query(device_id, "Catalog", timeout_s=timeout_s or self.config.catalog_timeout_s)  # type: ignore[return-value]

    async def query_device_info(self, device_id: str) -> Manscdp:
        return await self.query(device_id, "DeviceInfo", timeout_s=5.0)  # type: ignore[return-value]

    async def query_record_info(self, channel_id: str, start: str, end: str, timeout_s: float = 15.0) -> list[dict[str, str]]:
        """Recordings of a channel between two ``yyyy-MM-ddTHH:mm:ss`` times (``<Type>all</Type>``: Dahua requires it)."""
        return await self.query(channel_id, "RecordInfo", {"StartTime": start, "EndTime": end, "Secrecy": 0, "Type": "all"},
                                timeout_s=timeout_s)  # type: ignore[return-value]

    async def ptz(self, channel_id: str, ptz_cmd: str) -> None:
        """DeviceControl PTZCmd (see :mod:`devices.gb28181.ptz`); devices answer the MESSAGE only."""
        await self.query(channel_id, "DeviceControl", {"PTZCmd": ptz_cmd, "Info": ""}, root="Control", expect_response=False)

    async def subscribe_mobile_position(self, device_id: str, interval_s: int | None = None, expires_s: int | None = None) -> int:
        """Subscribe now and keep the subscription (refreshed in its dialog, renewed after a re-registration);
        the status of the first SUBSCRIBE. See :mod:`devices.gb28181.subscribe`."""
        self._device(device_id)
        return await self.position_subs.subscribe_now(device_id, interval_s, expires_s)

    # -- media -------------------------------------------------------------------------------
    def next_ssrc(self, *, playback: bool = False) -> str:
        return ssrc_for(self.config.domain, next(self._ssrc_seq), playback=playback)

    async def invite(self, channel_id: str, *, host: str, port: int, mode: MediaMode = "udp", ssrc: str | None = None,
                     playback: tuple[int, int] | None = None, timeout_s: float = 10.0) -> Invite:
        """INVITE the channel to send PS/RTP to host:port; the agreed session (the device's ``y=`` wins)."""
        dev = self._device(channel_id)
        ssrc = ssrc or self.next_ssrc(playback=playback is not None)
        body = build_offer(channel_id=channel_id, host=host, port=port, ssrc=ssrc, mode=mode, playback=playback,
                           session="Playback" if playback else "Play")
        req = self.endpoint.make_request(
            "INVITE", to_uri=f"sip:{channel_id}@{channel_id[:10]}", from_user=self.config.platform_id,
            from_domain=self.config.domain, proto=dev.proto, body=body, content_type="APPLICATION/SDP",  # type: ignore[arg-type]
            extra={"Subject": f"{channel_id}:{ssrc},{self.config.platform_id}:0"})
        resp = await self.endpoint.send_request(req, dev.addr, dev.proto, timeout_s=timeout_s)  # type: ignore[arg-type]
        to_hdr = resp.headers.get_first("to") or ""
        dialog = Dialog(call_id=req.call_id or "", local_tag=tag_of(req.headers.get_first("from")), remote_tag=tag_of(to_hdr),
                        remote_uri=f"sip:{channel_id}@{channel_id[:10]}", local_uri=f"sip:{self.config.platform_id}@{self.config.domain}",
                        remote_target=contact_target(resp, req.uri), cseq=int((req.headers.get_first("cseq") or "1").split()[0]),
                        addr=dev.addr, proto=dev.proto)  # type: ignore[arg-type]
        if resp.status_code >= 300:
            raise LookupError(f"channel {channel_id} refused the INVITE: {resp.status_code} {resp.reason_phrase}")
        self.endpoint.ack(dialog)
        try:
            answer = parse_answer(resp.body)
        except ValueError as exc:
            await self.endpoint.bye(dialog)
            raise LookupError(f"channel {channel_id} answered an unusable SDP: {exc}") from None
        agreed = answer.ssrc or ssrc
        if agreed.lstrip("0") != ssrc.lstrip("0"):
            log.info("GB28181: channel %s answered y=%s instead of %s; following the device", channel_id, agreed, ssrc)
        return Invite(channel_id=channel_id, dialog=dialog, ssrc=agreed, answer=answer, offered_ssrc=ssrc)

    async def bye(self, invite: Invite) -> None:
        await self.endpoint.bye(invite.dialog)
