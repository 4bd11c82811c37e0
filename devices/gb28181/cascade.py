"""Cascade up: Xueliang registers to an upper platform (city) as a lower platform (county).

Its own SIP endpoint (a port of its own, so the upper platform's requests never
mix with our devices'), digest REGISTER with refresh, keepalives (re-register when
they fail), the upper platform's Catalog answered in parts with SumNum from the
channels in the configured scope, DeviceInfo, and INVITE/ACK/BYE handed to a media
starter (``ingest.ps.cascade`` streams PS over RTP from a GB channel or an RTSP
camera). Alarms are forwarded with :meth:`CascadeClient.forward_alarm`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiosipua.auth import SipDigestAuth, build_credentials
from aiosipua.header_codec import parse_auth, stringify_auth

from devices.gb28181 import manscdp
from devices.gb28181.ids import domain_of, validate_id
from devices.gb28181.manscdp import ManscdpError
from devices.gb28181.platform import GbAlarm
from devices.gb28181.sdp import SdpAnswer, parse_answer
from devices.gb28181.sip import Inbound, SipEndpoint, user_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpperPlatform:
    platform_id: str
    host: str
    port: int
    local_id: str
    password: str = field(repr=False)
    proto: Literal["udp", "tcp"] = "udp"
    expires: int = 3600
    keepalive_s: float = 60.0
    catalog_part: int = 20
    local_host: str = "127.0.0.1"
    local_port: int = 0

    def __post_init__(self) -> None:
        validate_id(self.platform_id, what="upper platform id")
        validate_id(self.local_id, what="our id towards the upper platform")


@dataclass(frozen=True)
class CascadeChannel:
    channel_id: str
    name: str
    civil_code: str = ""
    manufacturer: str = "Xueliang"
    lat: float | None = None
    lon: float | None = None


# (channel, offer) -> coroutine returning a stop callback; raise LookupError to refuse (404)
MediaStarter = Callable[[str, SdpAnswer], Awaitable[Callable[[], Awaitable[None]]]]


class CascadeClient:
    def __init__(self, upper: UpperPlatform, channels: Callable[[], list[CascadeChannel]], media: MediaStarter) -> None:
        self.upper, self.channels, self.media = upper, channels, media
        self.endpoint = SipEndpoint(upper.local_host, upper.local_port, self._on_request)
        self.registered = False
        self._sn = itertools.count(1)
        self._reg_call = f"reg-{upper.local_id}"
        self._reg_cseq = itertools.count(1)
        self._sessions: dict[str, Callable[[], Awaitable[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = {"keepalives": 0, "catalog_answers": 0, "invites": 0}

    @property
    def _addr(self) -> tuple[str, int]:
        return (self.upper.host, self.upper.port)

    async def start(self) -> CascadeClient:
        await self.endpoint.start()
        self._spawn(self._run())
        return self

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for stop in list(self._sessions.values()):
            await stop()
        self._sessions.clear()
        await self.endpoint.stop()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- registration and keepalive ----------------------------------------------------------
    async def register(self, expires: int | None = None) -> bool:
        up = self.upper
        expires = up.expires if expires is None else expires
        uri = f"sip:{up.platform_id}@{domain_of(up.platform_id)}"

        def req(auth: str | None = None):  # noqa: ANN202
            extra = {"Expires": str(expires)}
            if auth:
                extra["Authorization"] = auth
            r = self.endpoint.make_request("REGISTER", to_uri=f"sip:{up.local_id}@{domain_of(up.local_id)}", request_uri=uri,
                                           from_user=up.local_id, from_domain=domain_of(up.local_id), proto=up.proto,
                                           call_id=self._reg_call, from_tag=f"t{up.local_id[-6:]}", cseq=next(self._reg_cseq), extra=extra)
            return r
        resp = await self.endpoint.send_request(req(), self._addr, up.proto)
        if resp.status_code in (401, 407):
            challenge = parse_auth(resp.headers.get_first("www-authenticate") or resp.headers.get_first("proxy-authenticate") or "")
            creds = build_credentials(SipDigestAuth(up.local_id, up.password), challenge, "REGISTER", uri)
            if creds is None:
                log.error("GB28181 cascade: cannot answer the upper platform's challenge %r", challenge.params.get("algorithm"))
                return False
            resp = await self.endpoint.send_request(req(stringify_auth(creds)), self._addr, up.proto)
        self.registered = resp.status_code == 200 and expires > 0
        if resp.status_code != 200:
            log.error("GB28181 cascade: upper platform %s refused our REGISTER: %d %s (check the id/password it expects)",
                      up.platform_id, resp.status_code, resp.reason_phrase)
        else:
            log.info("GB28181 cascade: registered to %s at %s:%d", up.platform_id, up.host, up.port)
        return self.registered

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                if not self.registered and not await self.register():
                    raise ConnectionError("register refused")
                backoff = 1.0
                refresh_at = asyncio.get_running_loop().time() + self.upper.expires / 2
                while self.registered and asyncio.get_running_loop().time() < refresh_at:
                    await asyncio.sleep(self.upper.keepalive_s)
                    await self._keepalive()
                self.registered = False  # refresh
            except (TimeoutError, ConnectionError, OSError) as exc:
                self.registered = False
                log.warning("GB28181 cascade: %s; retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _keepalive(self) -> None:
        await self._message(manscdp.build("Notify", "Keepalive", next(self._sn), self.upper.local_id, {"Status": "OK"}))
        self.stats["keepalives"] += 1

    async def _message(self, body: bytes) -> None:
        up = self.upper
        req = self.endpoint.make_request("MESSAGE", to_uri=f"sip:{up.platform_id}@{domain_of(up.platform_id)}",
                                         from_user=up.local_id, from_domain=domain_of(up.local_id), proto=up.proto, body=body)
        resp = await self.endpoint.send_request(req, self._addr, up.proto)
        if resp.status_code >= 300:
            raise ConnectionError(f"upper platform answered MESSAGE with {resp.status_code}")

    async def forward_alarm(self, alarm: GbAlarm) -> None:
        fields = {"AlarmPriority": alarm.priority or "1", "AlarmMethod": alarm.method or "5", "AlarmTime": alarm.time,
                  "AlarmDescription": alarm.description}
        await self._message(manscdp.build("Notify", "Alarm", next(self._sn), alarm.device_id, fields))

    # -- the upper platform's requests -------------------------------------------------------
    def _on_request(self, inbound: Inbound) -> None:
        req = inbound.request
        method = req.method.upper()
        if user_of(req.headers.get_first("from")) != self.upper.platform_id:
            log.warning("GB28181 cascade: %s from %r refused: not the upper platform %s", method, user_of(req.headers.get_first("from")),
                        self.upper.platform_id)
            self.endpoint.reply(inbound, 403, "Forbidden")
            return
        if method == "MESSAGE":
            try:
                msg = manscdp.parse(req.body)
            except ManscdpError as exc:
                log.warning("GB28181 cascade: MESSAGE from the upper platform refused: %s", exc)
                self.endpoint.reply(inbound, 400, "Bad Request")
                return
            self.endpoint.reply(inbound, 200, "OK")
            if msg.cmd_type == "Catalog" and msg.root == "Query":
                self._spawn(self._answer_catalog(msg.sn))
            elif msg.cmd_type == "DeviceInfo" and msg.root == "Query":
                self._spawn(self._message(manscdp.build("Response", "DeviceInfo", msg.sn, self.upper.local_id,
                                                        {"DeviceName": "Xueliang", "Manufacturer": "Xueliang", "Model": "platform",
                                                         "Result": "OK"})))
        elif method == "INVITE":
            self._spawn(self._invite(inbound))
        elif method == "BYE":
            self.endpoint.reply(inbound, 200, "OK")
            stop = self._sessions.pop(req.call_id or "", None)
            if stop is not None:
                self._spawn(stop())
        elif method == "ACK":
            return
        else:
            self.endpoint.reply(inbound, 405, "Method Not Allowed")

    async def _answer_catalog(self, sn: int) -> None:
        chans = self.channels()
        part = max(1, self.upper.catalog_part)
        for i in range(0, max(len(chans), 1), part):
            items = "".join(
                f"<Item><DeviceID>{c.channel_id}</DeviceID><Name>{manscdp._esc(c.name)}</Name><Manufacturer>{manscdp._esc(c.manufacturer)}</Manufacturer>"
                f"<Model>Camera</Model><Owner>Owner</Owner><CivilCode>{c.civil_code or self.upper.local_id[:6]}</CivilCode>"
                f"<Address>Address</Address><Parental>0</Parental><ParentID>{self.upper.local_id}</ParentID><SafetyWay>0</SafetyWay>"
                f"<RegisterWay>1</RegisterWay><Secrecy>0</Secrecy><Status>ON</Status>"
                + (f"<Longitude>{c.lon}</Longitude><Latitude>{c.lat}</Latitude>" if c.lat is not None and c.lon is not None else "")
                + "</Item>" for c in chans[i:i + part])
            body = manscdp.build("Response", "Catalog", sn, self.upper.local_id, {"SumNum": len(chans)},
                                 extra_xml=f'<DeviceList Num="{len(chans[i:i + part])}">{items}</DeviceList>\r\n')
            await self._message(body)
        self.stats["catalog_answers"] += 1
        log.info("GB28181 cascade: answered the upper platform's Catalog (SN %d) with %d channels", sn, len(chans))

    async def _invite(self, inbound: Inbound) -> None:
        req = inbound.request
        channel = user_of(req.uri) or user_of(req.headers.get_first("to"))
        try:
            offer = parse_answer(req.body)  # same grammar as an answer: address, port, y=, TCP
        except ValueError as exc:
            log.warning("GB28181 cascade: INVITE for %s refused: %s", channel, exc)
            self.endpoint.reply(inbound, 488, "Not Acceptable Here")
            return
        if channel not in {c.channel_id for c in self.channels()}:
            log.warning("GB28181 cascade: INVITE for %s refused: not in the shared scope", channel)
            self.endpoint.reply(inbound, 404, "Not Found")
            return
        self.endpoint.reply(inbound, 100, "Trying")
        try:
            stop = await self.media(channel, offer)
        except (LookupError, OSError, TimeoutError) as exc:
            log.warning("GB28181 cascade: cannot stream %s to the upper platform: %s", channel, exc)
            self.endpoint.reply(inbound, 503, "Service Unavailable")
            return
        self._sessions[req.call_id or ""] = stop
        self.stats["invites"] += 1
        host = self.upper.local_host
        sdp = (f"v=0\r\no={channel} 0 0 IN IP4 {host}\r\ns=Play\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
               f"m=video 9 {'TCP/RTP/AVP' if offer.tcp else 'RTP/AVP'} 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\n"
               + ("a=setup:active\r\na=connection:new\r\n" if offer.tcp else "") + f"y={offer.ssrc or '0000000000'}\r\nf=\r\n").encode()
        self.endpoint.reply(inbound, 200, "OK", body=sdp, content_type="application/sdp",
                            headers={"Contact": f"<sip:{channel}@{host}:{self.endpoint.port}>"})
