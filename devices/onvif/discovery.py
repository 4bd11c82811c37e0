"""WS-Discovery (ONVIF profile): Probe for NetworkVideoTransmitters, collect ProbeMatches.

Multicast to 239.255.255.250:3702 finds devices on the local segment; a unicast
probe to one host finds a device across routers (county links are routed, so
unicast is what a centre uses to check a known address range). Replies are
parsed with defusedxml: a DTD, entity declaration or external reference in a
reply is dropped, never expanded; garbage is ignored; a reply to someone else's
probe (other RelatesTo) is ignored. The probe is sent twice (UDP is lossy; the
spec's retransmission) and replies are de-duplicated by endpoint address.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

log = logging.getLogger(__name__)

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
MAX_DATAGRAM = 65535

_S = "http://www.w3.org/2003/05/soap-envelope"
_A = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
_D = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
_DN = "http://www.onvif.org/ver10/network/wsdl"


@dataclass(frozen=True)
class DiscoveredDevice:
    """One ProbeMatch."""

    endpoint: str  # wsa:EndpointReference/Address, usually urn:uuid:...; stable device identity
    xaddrs: tuple[str, ...]  # device service URLs
    scopes: tuple[str, ...]
    types: tuple[str, ...] = ()
    from_address: str = ""  # IP the reply came from
    metadata_version: int | None = None

    def scope(self, kind: str) -> str | None:
        """Value of an ONVIF scope such as ``name``, ``hardware``, ``location`` (URL-decoded)."""
        prefix = f"onvif://www.onvif.org/{kind}/"
        for s in self.scopes:
            if s.lower().startswith(prefix.lower()):
                return unquote(s[len(prefix):])
        return None

    @property
    def name(self) -> str | None:
        return self.scope("name")

    @property
    def hardware(self) -> str | None:
        return self.scope("hardware")

    @property
    def ptz_scope(self) -> bool:
        return any(s.lower().endswith("/type/ptz") for s in self.scopes)

    def best_xaddr(self) -> str | None:
        """The XAddr to use: prefer the one on the address the reply came from (devices list all their NICs)."""
        if not self.xaddrs:
            return None
        for x in self.xaddrs:
            if urlparse(x).hostname == self.from_address:
                return x
        return self.xaddrs[0]


@dataclass
class DiscoveryReport:
    devices: list[DiscoveredDevice] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # why some datagrams were dropped (no XML content)


def probe_message(message_id: str, types: str = "dn:NetworkVideoTransmitter") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{_S}" xmlns:a="{_A}" xmlns:d="{_D}" xmlns:dn="{_DN}">'
        "<s:Header>"
        f'<a:Action s:mustUnderstand="1">{_D}/Probe</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        f"<a:ReplyTo><a:Address>{_A}/role/anonymous</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        "</s:Header>"
        f"<s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body></s:Envelope>"
    ).encode()


class RejectedReply(ValueError):
    """A datagram that is not a usable ProbeMatches for our probe."""


def parse_probe_matches(data: bytes, message_id: str | None, from_address: str = "") -> list[DiscoveredDevice]:
    """Decode a ProbeMatches datagram. Raises :class:`RejectedReply` for unsafe/garbage/foreign replies."""
    try:
        root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise RejectedReply(f"unsafe XML refused ({type(exc).__name__})") from None
    except ParseError as exc:
        raise RejectedReply(f"not XML ({exc})") from None
    if message_id is not None:
        relates = (root.findtext(".//{*}RelatesTo") or "").strip()
        if relates and relates != message_id:
            raise RejectedReply("reply to another probe")
    # Namespace wildcards: firmwares mix WS-Discovery 2005/04 and 1.1 (2009/01) namespaces,
    # and some put EndpointReference in the discovery namespace or omit ProbeMatches.
    matches = root.findall(".//{*}ProbeMatch")
    if not matches:
        raise RejectedReply("not a ProbeMatches message")
    result = []
    for m in matches:
        endpoint = (m.findtext("{*}EndpointReference/{*}Address") or "").strip()
        xaddrs = tuple((m.findtext("{*}XAddrs") or "").split())
        if not endpoint and not xaddrs:
            continue
        version = (m.findtext("{*}MetadataVersion") or "").strip()
        result.append(
            DiscoveredDevice(
                endpoint=endpoint or xaddrs[0],
                xaddrs=xaddrs,
                scopes=tuple((m.findtext("{*}Scopes") or "").split()),
                types=tuple((m.findtext("{*}Types") or "").split()),
                from_address=from_address,
                metadata_version=int(version) if version.isdigit() else None,
            )
        )
    return result


def expand_hosts(specs: Iterable[str], limit: int = 65536) -> list[str]:
    """Hosts and CIDR ranges (``10.20.0.0/24``) → list of addresses, in order, without duplicates."""
    hosts: dict[str, None] = {}
    for spec in specs:
        spec = spec.strip()
        if "/" in spec:
            try:
                network = ipaddress.ip_network(spec, strict=False)
            except ValueError as exc:
                raise ValueError(f"bad address range {spec!r}: {exc}") from None
            if network.version != 4:
                raise ValueError(f"{spec}: WS-Discovery probing supports IPv4 only")
            if network.num_addresses > limit:
                raise ValueError(f"{spec} has {network.num_addresses} addresses; split it (at most {limit} per run)")
            hosts.update((str(a), None) for a in (network.hosts() if network.num_addresses > 2 else network))
        elif spec:
            hosts[spec] = None
        if len(hosts) > limit:
            raise ValueError(f"more than {limit} hosts to probe; split the run")
    return list(hosts)


def discover(
    host: str | Sequence[str] | None = None,
    *,
    timeout: float = 3.0,
    port: int = DISCOVERY_PORT,
    interface: str | None = None,
    retransmit: int = 1,
    rate_pps: float = 2000.0,
    report: DiscoveryReport | None = None,
) -> list[DiscoveredDevice]:
    """Probe and collect replies for at most ``timeout`` seconds.

    ``host=None`` multicasts on the local segment (TTL 1; ``interface`` picks the
    outgoing IPv4 address). A host, or a list of hosts (see :func:`expand_hosts`
    for ranges), is probed by unicast from one socket at ``rate_pps`` packets per
    second; the call returns as soon as every target has answered. Unanswered
    targets get ``retransmit`` more probes (UDP is lossy).
    """
    message_id = f"urn:uuid:{uuid.uuid4()}"
    probe = probe_message(message_id)
    multicast = host is None
    hosts = [MULTICAST_GROUP] if host is None else ([host] if isinstance(host, str) else list(host))
    report = report if report is not None else DiscoveryReport()
    found: dict[str, DiscoveredDevice] = {}
    answered: set[str] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        if multicast:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            if interface:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        sock.bind((interface or "", 0))
        start = time.monotonic()
        deadline = start + timeout
        spacing = 1.0 / rate_pps if rate_pps > 0 else 0.0
        round_gap = max(min(0.25, timeout / 4), len(hosts) * spacing)
        # (when, host) in send order: every host once, then the retransmission rounds
        queue = [(start + r * round_gap + i * spacing, h) for r in range(retransmit + 1) for i, h in enumerate(hosts)]
        queue.reverse()
        while True:
            now = time.monotonic()
            while queue and queue[-1][0] <= now:
                _, target = queue.pop()
                if not multicast and target in answered:
                    continue
                _send(sock, probe, (target, port))
            if now >= deadline or (not multicast and len(answered) >= len(hosts)):
                break
            wake = min(deadline, queue[-1][0]) if queue else deadline
            ready, _, _ = select.select([sock], [], [], max(0.0, wake - now))
            if not ready:
                continue
            try:
                data, (addr, _port) = sock.recvfrom(MAX_DATAGRAM)
            except ConnectionRefusedError:
                continue  # ICMP port unreachable from a unicast target without a listener
            try:
                devices = parse_probe_matches(data, message_id, addr)
            except RejectedReply as exc:
                log.warning("WS-Discovery: dropped reply from %s: %s", addr, exc)
                report.rejected.append(f"{addr}: {exc}")
                continue
            if devices:
                answered.add(addr)
            for device in devices:
                found.setdefault(device.endpoint, device)
    report.devices = list(found.values())
    return report.devices


def _send(sock: socket.socket, probe: bytes, target: tuple[str, int]) -> None:
    for _ in range(2):
        try:
            sock.sendto(probe, target)
            return
        except ConnectionRefusedError:
            continue  # a pending ICMP error from an earlier target surfaced here; send again
        except OSError as exc:
            raise OSError(f"cannot send WS-Discovery probe to {target[0]}:{target[1]}: {exc}") from exc
