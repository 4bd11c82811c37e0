"""A small SIP endpoint on asyncio: UDP and TCP on one port, replies, client transactions.

Message parsing/serialisation and the socket transports come from ``aiosipua``
(hardened parser, size caps, TCP Content-Length framing). What GB/T 28181 needs
on top and aiosipua does not give a *server* is here: answering on the
transport a request came in on, non-INVITE and INVITE client transactions with
UDP retransmission (RFC 3261 timers E/A, shortened end), and ACK/BYE for the
dialog an INVITE creates.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiosipua.message import SipMessage, SipRequest, SipResponse, missing_required_headers
from aiosipua.transport import SipTransport, TcpSipTransport, UdpSipTransport

log = logging.getLogger(__name__)

Proto = Literal["udp", "tcp"]
Addr = tuple[str, int]
T1 = 0.5
USER_AGENT = "Xueliang GB28181"
UDP_RCVBUF = 8 * 1024 * 1024  # the kernel caps it at net.core.rmem_max (see docs/gb28181.md)


@dataclass
class Inbound:
    """A request as received: the message, where it came from, over what."""

    request: SipRequest
    addr: Addr
    proto: Proto


RequestHandler = Callable[[Inbound], None]


@dataclass
class Dialog:
    """What a BYE needs after an INVITE's 200 OK."""

    call_id: str
    local_tag: str
    remote_tag: str
    remote_uri: str
    local_uri: str
    remote_target: str
    cseq: int
    addr: Addr
    proto: Proto


def new_tag() -> str:
    return secrets.token_hex(5)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def user_of(header: str | None) -> str:
    """``<sip:34020000001320000001@3402000000>;tag=x`` → ``34020000001320000001``."""
    if not header:
        return ""
    start = header.find("sip:")
    if start < 0:
        return ""
    rest = header[start + 4:]
    end = min((i for i in (rest.find("@"), rest.find(">"), rest.find(";")) if i >= 0), default=len(rest))
    return rest[:end]


def tag_of(header: str | None) -> str:
    if not header:
        return ""
    for part in header.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "tag":
            return value
    return ""


class _Udp(UdpSipTransport):
    """aiosipua's UDP transport with its own protocol: on Python 3.11 the selector datagram
    transport is not an ``asyncio.DatagramTransport`` subclass and aiosipua asserts it is."""

    async def start(self) -> None:
        owner = self

        class _Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                owner._dispatch(data, (str(addr[0]), int(addr[1])))  # noqa: SLF001

            def error_received(self, exc: Exception) -> None:
                log.debug("GB28181 UDP error: %s", exc)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(_Proto, local_addr=self.local_addr)
        sock = transport.get_extra_info("socket")
        try:  # thousands of devices keepalive into one socket: absorb bursts while the loop is busy
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
        except OSError as exc:
            log.info("GB28181: cannot enlarge the UDP receive buffer: %s", exc)
        self._udp_transport = transport  # type: ignore[assignment]


class SipEndpoint:
    """One local SIP address served over UDP and TCP."""

    def __init__(self, host: str, port: int, on_request: RequestHandler, *, advertised_host: str | None = None,
                 reply_to_via: bool = False, transaction_timeout_s: float = 8.0) -> None:
        self.host, self.port = host, port
        self.advertised_host = advertised_host or (host if host not in ("0.0.0.0", "::") else "127.0.0.1")
        self._on_request = on_request
        self.reply_to_via = reply_to_via
        self.transaction_timeout_s = transaction_timeout_s
        self._udp: UdpSipTransport | None = None
        self._tcp: TcpSipTransport | None = None
        self._pending: dict[str, asyncio.Future[SipResponse]] = {}
        self._provisional: dict[str, asyncio.Event] = {}
        self._cseq = itertools.count(1)
        self.stats = {"received": 0, "malformed": 0, "sent": 0, "stray_responses": 0}

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._udp = _Udp(local_addr=(self.host, self.port), on_message=self._make_cb("udp"))
        await self._udp.start()
        if self.port == 0:  # bind TCP on the same port the OS gave UDP
            sock = self._udp._udp_transport.get_extra_info("socket")  # noqa: SLF001
            self.port = sock.getsockname()[1]
        self._tcp = TcpSipTransport(local_addr=(self.host, self.port), on_message=self._make_cb("tcp"))
        await self._tcp.start()
        log.info("GB28181 SIP listening on %s:%d (UDP+TCP)", self.host, self.port)

    async def stop(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        for t in (self._udp, self._tcp):
            if t is not None:
                await t.stop()

    def _transport(self, proto: Proto) -> SipTransport:
        t = self._udp if proto == "udp" else self._tcp
        if t is None:
            raise RuntimeError("SIP endpoint not started")
        return t

    def _make_cb(self, proto: Proto) -> Callable[[SipRequest | SipResponse, Addr], None]:
        def cb(msg: SipRequest | SipResponse, addr: Addr) -> None:
            self.stats["received"] += 1
            if isinstance(msg, SipResponse):
                self._on_response(msg)
                return
            missing = missing_required_headers(msg)
            if missing:
                self.stats["malformed"] += 1
                log.warning("GB28181: dropped %s from %s:%d over %s: missing header(s) %s", msg.method, addr[0], addr[1], proto, ", ".join(missing))
                return
            try:
                self._on_request(Inbound(msg, addr, proto))
            except Exception:
                log.exception("GB28181: handler failed for %s from %s:%d", msg.method, addr[0], addr[1])
                self.reply(Inbound(msg, addr, proto), 500, "Server Internal Error")
        return cb

    # -- answering ---------------------------------------------------------------------------
    def reply(self, inbound: Inbound, status: int, reason: str, *, headers: dict[str, str] | None = None,
              body: bytes = b"", content_type: str | None = None, to_tag: str | None = None) -> SipResponse:
        req = inbound.request
        resp = SipResponse(status_code=status, reason_phrase=reason)
        for via in req.headers.get("via"):
            resp.headers.append("Via", via)
        resp.headers.set_single("From", req.headers.get_first("from") or "")
        to = req.headers.get_first("to") or ""
        if status > 100 and not tag_of(to):
            to = f"{to};tag={to_tag or new_tag()}"
        resp.headers.set_single("To", to)
        resp.headers.set_single("Call-ID", req.call_id or "")
        resp.headers.set_single("CSeq", req.headers.get_first("cseq") or "")
        resp.headers.set_single("User-Agent", USER_AGENT)
        for k, v in (headers or {}).items():
            resp.headers.set_single(k, v)
        if body:
            resp.headers.set_single("Content-Type", content_type or "Application/MANSCDP+xml")
        resp.body = body
        self._send(resp, inbound.addr if (inbound.proto == "tcp" or not self.reply_to_via) else None, inbound.proto)
        return resp

    def _send(self, msg: SipMessage, addr: Addr | None, proto: Proto) -> None:
        transport = self._transport(proto)
        try:
            if addr is None and isinstance(msg, SipResponse):
                transport.send_reply(msg)
            else:
                transport.send(msg, addr)  # type: ignore[arg-type]
            self.stats["sent"] += 1
        except (RuntimeError, OSError) as exc:
            log.warning("GB28181: cannot send to %s over %s: %s", addr, proto, exc)

    # -- asking ------------------------------------------------------------------------------
    def make_request(self, method: str, *, to_uri: str, from_user: str, from_domain: str, proto: Proto,
                     call_id: str | None = None, from_tag: str | None = None, to_tag: str = "",
                     cseq: int | None = None, body: bytes = b"", content_type: str = "Application/MANSCDP+xml",
                     extra: dict[str, str] | None = None, request_uri: str | None = None) -> SipRequest:
        req = SipRequest(method=method, uri=request_uri or to_uri)
        req.headers.append("Via", f"SIP/2.0/{proto.upper()} {self.advertised_host}:{self.port};rport;branch={new_branch()}")
        req.headers.set_single("From", f"<sip:{from_user}@{from_domain}>;tag={from_tag or new_tag()}")
        req.headers.set_single("To", f"<{to_uri}>" + (f";tag={to_tag}" if to_tag else ""))
        req.headers.set_single("Call-ID", call_id or f"{secrets.token_hex(12)}@{self.advertised_host}")
        req.headers.set_single("CSeq", f"{cseq if cseq is not None else next(self._cseq)} {method}")
        req.headers.set_single("Max-Forwards", "70")
        req.headers.set_single("User-Agent", USER_AGENT)
        if method in ("INVITE", "REGISTER", "SUBSCRIBE"):
            req.headers.set_single("Contact", f"<sip:{from_user}@{self.advertised_host}:{self.port}>")
        for k, v in (extra or {}).items():
            req.headers.set_single(k, v)
        if body:
            req.headers.set_single("Content-Type", content_type)
        req.body = body
        return req

    async def send_request(self, req: SipRequest, addr: Addr, proto: Proto, *, timeout_s: float | None = None) -> SipResponse:
        """Send and wait for the final response (retransmitting over UDP); TimeoutError when none comes."""
        branch = req.via[0].branch or ""
        fut: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        provisional = asyncio.Event()
        self._pending[branch] = fut
        self._provisional[branch] = provisional
        limit = timeout_s if timeout_s is not None else self.transaction_timeout_s
        try:
            if proto == "tcp" and addr not in self._tcp._connections:  # noqa: SLF001
                await self._tcp.connect(addr)  # type: ignore[union-attr]
            self._send(req, addr, proto)
            deadline = asyncio.get_running_loop().time() + limit
            interval = T1
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError(f"no answer to {req.method} from {addr[0]}:{addr[1]} within {limit:.0f} s")
                wait = remaining if proto == "tcp" or provisional.is_set() else min(interval, remaining)
                try:
                    return await asyncio.wait_for(asyncio.shield(fut), wait)
                except TimeoutError:
                    if proto == "udp" and not provisional.is_set() and asyncio.get_running_loop().time() < deadline:
                        self._send(req, addr, proto)
                        interval = min(interval * 2, 4.0)
        finally:
            self._pending.pop(branch, None)
            self._provisional.pop(branch, None)

    def _on_response(self, resp: SipResponse) -> None:
        vias = resp.via
        branch = vias[0].branch if vias else None
        fut = self._pending.get(branch or "")
        if fut is None:
            self.stats["stray_responses"] += 1
            return
        if resp.status_code < 200:
            self._provisional[branch].set()  # type: ignore[index]
            return
        if not fut.done():
            fut.set_result(resp)

    # -- dialogs -----------------------------------------------------------------------------
    def ack(self, dialog: Dialog) -> None:
        req = self.make_request("ACK", to_uri=dialog.remote_uri, from_user=user_of(dialog.local_uri),
                                from_domain=dialog.local_uri.split("@", 1)[-1].rstrip(">"), proto=dialog.proto,
                                call_id=dialog.call_id, from_tag=dialog.local_tag, to_tag=dialog.remote_tag,
                                cseq=dialog.cseq, request_uri=dialog.remote_target)
        self._send(req, dialog.addr, dialog.proto)

    async def bye(self, dialog: Dialog) -> SipResponse | None:
        dialog.cseq += 1
        req = self.make_request("BYE", to_uri=dialog.remote_uri, from_user=user_of(dialog.local_uri),
                                from_domain=dialog.local_uri.split("@", 1)[-1].rstrip(">"), proto=dialog.proto,
                                call_id=dialog.call_id, from_tag=dialog.local_tag, to_tag=dialog.remote_tag,
                                cseq=dialog.cseq, request_uri=dialog.remote_target)
        try:
            return await self.send_request(req, dialog.addr, dialog.proto, timeout_s=4.0)
        except TimeoutError as exc:
            log.warning("GB28181: BYE for call %s: %s", dialog.call_id, exc)
            return None


def contact_target(resp: SipResponse, fallback: str) -> str:
    """The remote target (Contact URI) of a 2xx, for in-dialog requests."""
    contact = resp.headers.get_first("contact")
    if contact and "sip:" in contact:
        uri = contact[contact.find("sip:"):]
        return uri.split(">", 1)[0].split(";", 1)[0] if ">" in uri else uri.split(";", 1)[0]
    return fallback
