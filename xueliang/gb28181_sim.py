"""A bounded GB/T 28181 device generator for ``xueliang bench gb28181``: many devices, few sockets.

Devices share a pool of UDP sockets (the platform answers the packet's source,
as it does behind NAT). Each device registers with digest, sends keepalives,
answers Catalog queries in multi-part MESSAGEs (NVRs) and INVITEs with an SDP
echoing ``y=``, then streams a pre-muxed PS sample to the offered port until BYE.
The SIP text is written here by hand on purpose: it is a second, independent
implementation of the wire format the platform parses.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field

from ingest.ps.mux import rtp_packets

_HDR = re.compile(rb"^([A-Za-z-]+):\s*(.*)$", re.M)


def device_id(i: int, type_code: str = "132") -> str:
    return f"3402000000{type_code}0{i:06d}"


def channel_id(k: int) -> str:
    return f"3402000000131{k // 1_000_000}{k % 1_000_000:06d}"


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()  # noqa: S324 - SIP digest


def _headers(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    first, _, rest = head.partition(b"\r\n")
    hdrs = {m.group(1).decode().lower(): m.group(2).decode(errors="replace").strip() for m in _HDR.finditer(rest)}
    return first.decode(errors="replace"), hdrs, body


@dataclass
class SimStats:
    registered: int = 0
    register_failed: int = 0
    keepalives_sent: int = 0
    keepalives_acked: int = 0
    catalog_parts: int = 0
    invites: int = 0


@dataclass
class _Sock(asyncio.DatagramProtocol):
    sim: DeviceSim
    transport: asyncio.DatagramTransport | None = None
    port: int = 0

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sim._on_datagram(self, data, addr)  # noqa: SLF001


@dataclass
class DeviceSim:
    server: tuple[str, int]
    password: str
    platform_id: str = "34020000002000000001"
    sockets: int = 64
    channels_per_nvr: int = 0
    part_size: int = 20
    media_units: list[bytes] = field(default_factory=list)
    fps: float = 25.0
    stats: SimStats = field(default_factory=SimStats)

    def __post_init__(self) -> None:
        self._socks: list[_Sock] = []
        self._pending: dict[str, asyncio.Future[tuple[str, dict[str, str]]]] = {}
        self._nvrs: dict[str, list[str]] = {}
        self._streams: dict[str, asyncio.Task[None]] = {}
        self._cseq = itertools.count(1)
        self._k = itertools.count()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.sockets):
            _, proto = await loop.create_datagram_endpoint(lambda: _Sock(self), local_addr=("127.0.0.1", 0))
            self._socks.append(proto)

    def close(self) -> None:
        for t in self._streams.values():
            t.cancel()
        for s in self._socks:
            if s.transport:
                s.transport.close()

    def sock_of(self, dev: str) -> _Sock:
        return self._socks[int(dev[-6:]) % len(self._socks)]

    # -- requests the devices send -----------------------------------------------------------
    def _request(self, sock: _Sock, dev: str, method: str, *, extra: str = "", body: bytes = b"", call_id: str | None = None) -> str:
        call_id = call_id or secrets.token_hex(8)
        dom = dev[:10]
        uri = f"sip:{dom}" if method == "REGISTER" else f"sip:{self.platform_id}@{dom}"
        msg = (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sock.port};rport;branch=z9hG4bK{secrets.token_hex(6)}\r\n"
               f"From: <sip:{dev}@{dom}>;tag={dev[-6:]}\r\nTo: <sip:{dev if method == 'REGISTER' else self.platform_id}@{dom}>\r\n"
               f"Call-ID: {call_id}\r\nCSeq: {next(self._cseq)} {method}\r\nMax-Forwards: 70\r\n"
               f"Contact: <sip:{dev}@127.0.0.1:{sock.port}>\r\n{extra}"
               + ("Content-Type: Application/MANSCDP+xml\r\n" if body else "") + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        sock.transport.sendto(msg, self.server)  # type: ignore[union-attr]
        return call_id

    async def _ask(self, sock: _Sock, dev: str, method: str, timeout: float = 16.0, **kw: object) -> tuple[str, dict[str, str]]:
        """Send and wait for the final response, retransmitting like a SIP UAC over UDP (0.5 s, doubling, cap 4 s)."""
        call_id = secrets.token_hex(8)
        fut = asyncio.get_running_loop().create_future()
        self._pending[call_id] = fut
        loop = asyncio.get_running_loop()
        deadline, interval = loop.time() + timeout, 0.5
        try:
            while True:
                self._request(sock, dev, method, call_id=call_id, **kw)  # type: ignore[arg-type]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), min(interval, remaining))
                except TimeoutError:
                    interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop(call_id, None)

    async def register(self, dev: str, expires: int = 3600) -> bool:
        sock = self.sock_of(dev)
        status, hdrs = await self._ask(sock, dev, "REGISTER", extra=f"Expires: {expires}\r\n")
        if status.startswith("SIP/2.0 401"):
            ch = dict(re.findall(r'(\w+)="?([^",]+)"?', hdrs.get("www-authenticate", "")))
            uri, nc, cnonce = f"sip:{dev[:10]}", "00000001", secrets.token_hex(4)
            ha1, ha2 = _md5(f"{dev}:{ch['realm']}:{self.password}"), _md5(f"REGISTER:{uri}")
            resp = _md5(f"{ha1}:{ch['nonce']}:{nc}:{cnonce}:auth:{ha2}")
            auth = (f'Authorization: Digest username="{dev}", realm="{ch["realm"]}", nonce="{ch["nonce"]}", uri="{uri}", '
                    f'response="{resp}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"\r\n')
            status, hdrs = await self._ask(sock, dev, "REGISTER", extra=f"Expires: {expires}\r\n{auth}")
        ok = status.startswith("SIP/2.0 200")
        if ok:
            self.stats.registered += 1
        else:
            self.stats.register_failed += 1
        return ok

    async def keepalive(self, dev: str) -> bool:
        body = (f'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>{next(self._cseq)}</SN>\r\n'
                f"<DeviceID>{dev}</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n").encode()
        self.stats.keepalives_sent += 1
        try:
            status, _ = await self._ask(self.sock_of(dev), dev, "MESSAGE", body=body)
        except TimeoutError:
            return False
        ok = status.startswith("SIP/2.0 200")
        self.stats.keepalives_acked += ok
        return ok

    def make_nvr(self, dev: str, channels: int) -> list[str]:
        chans = [channel_id(next(self._k)) for _ in range(channels)]
        self._nvrs[dev] = chans
        return chans

    # -- what the platform sends ---------------------------------------------------------------
    def _on_datagram(self, sock: _Sock, data: bytes, addr: tuple[str, int]) -> None:
        first, hdrs, body = _headers(data)
        if first.startswith("SIP/2.0"):
            fut = self._pending.get(hdrs.get("call-id", ""))
            if fut is not None and not fut.done() and not first.startswith("SIP/2.0 1"):
                fut.set_result((first, hdrs))
            return
        method, uri = first.split(" ", 2)[:2]
        target = uri[4:].split("@", 1)[0]
        if method == "ACK":
            return
        self._reply(sock, addr, hdrs, 200, "OK", sdp=self._answer(target, body, hdrs, addr) if method == "INVITE" else b"")
        if method == "MESSAGE" and b"<CmdType>Catalog</CmdType>" in body:
            sn = re.search(rb"<SN>(\d+)</SN>", body)
            asyncio.ensure_future(self._catalog(sock, target, int(sn.group(1)) if sn else 0))
        elif method == "BYE":
            task = self._streams.pop(hdrs.get("call-id", ""), None)
            if task:
                task.cancel()

    def _reply(self, sock: _Sock, addr: tuple[str, int], hdrs: dict[str, str], code: int, reason: str, sdp: bytes = b"") -> None:
        to = hdrs.get("to", "")
        if ";tag=" not in to:
            to += f";tag={secrets.token_hex(4)}"
        msg = (f"SIP/2.0 {code} {reason}\r\nVia: {hdrs.get('via', '')}\r\nFrom: {hdrs.get('from', '')}\r\nTo: {to}\r\n"
               f"Call-ID: {hdrs.get('call-id', '')}\r\nCSeq: {hdrs.get('cseq', '')}\r\n"
               + ("Content-Type: application/sdp\r\n" if sdp else "") + f"Content-Length: {len(sdp)}\r\n\r\n").encode() + sdp
        sock.transport.sendto(msg, addr)  # type: ignore[union-attr]

    async def _catalog(self, sock: _Sock, dev: str, sn: int) -> None:
        chans = self._nvrs.get(dev, [])
        for i in range(0, max(len(chans), 1), self.part_size):
            part = chans[i:i + self.part_size]
            items = "".join(f"<Item><DeviceID>{c}</DeviceID><Name>通道{c[-4:]}</Name><ParentID>{dev}</ParentID>"
                            f"<CivilCode>330381</CivilCode><Status>ON</Status></Item>" for c in part)
            body = (f'<?xml version="1.0" encoding="GB2312"?>\r\n<Response><CmdType>Catalog</CmdType><SN>{sn}</SN>'
                    f'<DeviceID>{dev}</DeviceID><SumNum>{len(chans)}</SumNum><DeviceList Num="{len(part)}">{items}</DeviceList>'
                    "</Response>").encode("gb18030")
            for _ in range(3):
                try:
                    await self._ask(sock, dev, "MESSAGE", body=body, timeout=16.0)
                    self.stats.catalog_parts += 1
                    break
                except TimeoutError:
                    continue

    def _answer(self, channel: str, offer: bytes, hdrs: dict[str, str], addr: tuple[str, int]) -> bytes:
        m = re.search(rb"m=video (\d+)", offer)
        y = re.search(rb"y=(\d+)", offer)
        c = re.search(rb"c=IN IP4 ([\d.]+)", offer)
        if m and y and c and self.media_units:
            self.stats.invites += 1
            self._streams[hdrs.get("call-id", "")] = asyncio.ensure_future(self._stream(c.group(1).decode(), int(m.group(1)), int(y.group(1))))
        ssrc = y.group(1).decode() if y else "0"
        return (f"v=0\r\no={channel} 0 0 IN IP4 127.0.0.1\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=video 9 RTP/AVP 96\r\na=sendonly\r\na=rtpmap:96 PS/90000\r\ny={ssrc}\r\n").encode()

    async def _stream(self, host: str, port: int, ssrc: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=(host, port))
        seq, t0 = 1, time.monotonic()
        try:
            for i in itertools.count():
                pkts, seq = rtp_packets(self.media_units[i % len(self.media_units)], seq=seq, timestamp=int(i * 90000 / self.fps), ssrc=ssrc)
                for p in pkts:
                    transport.sendto(p)
                await asyncio.sleep(max(0.0, t0 + (i + 1) / self.fps - time.monotonic()))
        finally:
            transport.close()
