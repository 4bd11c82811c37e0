"""A bare UDP SIP client for the bad-input tests: it sends exactly the bytes a test writes."""

from __future__ import annotations

import asyncio
import secrets

from aiosipua.auth import SipDigestAuth, build_credentials
from aiosipua.header_codec import parse_auth, stringify_auth
from aiosipua.message import SipMessage, SipResponse


class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)


class RawDevice:
    def __init__(self, device_id: str, server: tuple[str, int]) -> None:
        self.device_id, self.server = device_id, server
        self.cseq = 0

    async def __aenter__(self) -> RawDevice:
        loop = asyncio.get_running_loop()
        self.transport, self.proto = await loop.create_datagram_endpoint(_Proto, local_addr=("127.0.0.1", 0))
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.transport.close()

    def send_raw(self, data: bytes) -> None:
        self.transport.sendto(data, self.server)

    async def recv(self, timeout: float = 3.0) -> SipMessage:
        return SipMessage.parse(await asyncio.wait_for(self.proto.queue.get(), timeout))

    async def nothing(self, within: float = 0.5) -> bool:
        try:
            await asyncio.wait_for(self.proto.queue.get(), within)
        except TimeoutError:
            return True
        return False

    def request(self, method: str, *, body: bytes = b"", headers: dict[str, str] | None = None, uri: str | None = None) -> bytes:
        self.cseq += 1
        dom = self.device_id[:10]
        lines = [f"{method} {uri or f'sip:34020000002000000001@{dom}'} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch=z9hG4bK{secrets.token_hex(6)}",
                 f"From: <sip:{self.device_id}@{dom}>;tag=raw1", f"To: <sip:{self.device_id}@{dom}>",
                 f"Call-ID: raw-{self.device_id}", f"CSeq: {self.cseq} {method}", "Max-Forwards: 70",
                 f"Contact: <sip:{self.device_id}@127.0.0.1:{self.port}>"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body:
            lines.append("Content-Type: Application/MANSCDP+xml")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def register(self, password: str, expires: int = 3600) -> SipResponse:
        """REGISTER, answer the challenge with aiosipua's client-side digest (an implementation independent of ours)."""
        self.send_raw(self.request("REGISTER", headers={"Expires": str(expires)}, uri=f"sip:{self.device_id[:10]}"))
        challenge = await self.recv()
        assert isinstance(challenge, SipResponse) and challenge.status_code == 401, challenge
        parsed = parse_auth(challenge.headers.get_first("www-authenticate") or "")
        creds = build_credentials(SipDigestAuth(self.device_id, password), parsed, "REGISTER", f"sip:{self.device_id[:10]}")
        assert creds is not None
        self.send_raw(self.request("REGISTER", headers={"Expires": str(expires), "Authorization": stringify_auth(creds)}, uri=f"sip:{self.device_id[:10]}"))
        resp = await self.recv()
        assert isinstance(resp, SipResponse)
        return resp

    async def message(self, body: bytes) -> SipResponse:
        self.send_raw(self.request("MESSAGE", body=body))
        while True:
            resp = await self.recv()
            if isinstance(resp, SipResponse):
                return resp


def keepalive(device_id: str, sn: int = 1) -> bytes:
    return (f'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify><CmdType>Keepalive</CmdType><SN>{sn}</SN>'
            f"<DeviceID>{device_id}</DeviceID><Status>OK</Status></Notify>").encode()


def catalog(device_id: str, sn: int, sum_num: str, items: list[str], encoding: str = "UTF-8") -> bytes:
    xml = "".join(f"<Item><DeviceID>{i}</DeviceID><Name>通道{i[-3:]}</Name></Item>" for i in items)
    text = (f'<?xml version="1.0" encoding="{encoding}"?>\r\n<Response><CmdType>Catalog</CmdType><SN>{sn}</SN>'
            f'<DeviceID>{device_id}</DeviceID><SumNum>{sum_num}</SumNum><DeviceList Num="{len(items)}">{xml}</DeviceList></Response>')
    return text.encode("gb18030" if encoding.upper().startswith("GB") else "utf-8")
