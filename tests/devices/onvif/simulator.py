"""An ONVIF device simulator for tests: real SOAP 1.2 over HTTP and real WS-Discovery over UDP.

It answers the standard Device, Media, PTZ and Events operations with envelopes in
the ONVIF namespaces, enforces WS-UsernameToken digests against its *own* clock
(which can be set hours off, like a camera whose RTC drifted), and points its
stream URIs at whatever RTSP URLs it is given (the test RTSP server). Behaviour
switches reproduce broken devices: ``garbage`` (non-XML replies), ``xml_bomb``
(billion-laughs reply), ``silent`` (accepts the connection, never answers),
``ptz=False`` (a fixed camera), ``auth_mode="http401"`` / ``"http_digest"``.

Run standalone (used inside network namespaces for multicast tests):
    python -m tests.devices.onvif.simulator --http-port 8080 --discovery-port 3702 --multicast
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import re
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as safe_et

SAMPLE_VIDEO = Path(__file__).resolve().parents[3] / "samples" / "vtest.avi"

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tns1": "http://www.onvif.org/ver10/topics",
    "ter": "http://www.onvif.org/ver10/error",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
WSD_NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
}
ENVELOPE_OPEN = "<env:Envelope " + " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items()) + ">"
PREAUTH_OPERATIONS = {"GetSystemDateAndTime", "GetServices", "GetWsdlUrl", "GetServiceCapabilities", "GetEndpointReference"}
HTTP_REALM = "XLSim"
DIGEST_WINDOW = dt.timedelta(minutes=5)  # what real firmwares tolerate
XML_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10))
    + b']>\n<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><x>&lol9;</x></env:Body></env:Envelope>'
)


@dataclass
class SimConfig:
    username: str = "admin"
    password: str = "sim-Secret-42"
    manufacturer: str = "XLSim"
    model: str = "XL-PTZ-200"
    firmware: str = "V5.7.3 build 251101"
    serial: str = "SIM0001"
    hardware_id: str = "XLHW-1"
    name: str = "Sim Camera"
    location: str = "330381101201"
    clock_offset: dt.timedelta = dt.timedelta(0)
    ptz: bool = True
    absolute_ptz: bool = True
    events: bool = True
    main_stream: str = "rtsp://127.0.0.1:8554/cam01"
    sub_stream: str = "rtsp://127.0.0.1:8554/cam02"
    # "soap": 400 + ter:NotAuthorized fault; "http401": HTTP 401 for a bad WS token;
    # "http_digest": WS-Security ignored, HTTP digest required on the SOAP endpoint
    auth_mode: str = "soap"
    broken: tuple[str, ...] = ()  # operations answered with a generic receiver fault (firmware bugs)
    behaviour: str = "normal"  # normal | garbage | xml_bomb | silent | drip | huge
    endpoint_uuid: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    advertise_host: str = "127.0.0.1"


@dataclass
class _Subscription:
    id: str
    expires: dt.datetime
    queue: list[str] = field(default_factory=list)
    topics: tuple[str, ...] = ()  # ConcreteSet filter alternatives; empty = everything

    def wants(self, topic: str) -> bool:
        return not self.topics or any(topic == t or topic.startswith(t + "/") for t in self.topics)


class OnvifSimulator:
    """Start with ``with OnvifSimulator(SimConfig(...)) as sim:``; ``sim.device_url`` is the entry point."""

    def __init__(self, config: SimConfig | None = None, *, host: str = "127.0.0.1", http_port: int = 0,
                 discovery_port: int | None = None, multicast: bool = False) -> None:
        self.config = config or SimConfig()
        self.host = host
        self._http_port = http_port
        self._discovery_port = discovery_port
        self._multicast = multicast
        self._lock = threading.Condition()
        self.pan = self.tilt = self.zoom = 0.0
        self._velocity = (0.0, 0.0, 0.0)
        self._move_started = 0.0
        self._move_until: float | None = None
        self.presets: dict[str, tuple[str, tuple[float, float, float]]] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self.requests: list[str] = []  # operations received, for assertions
        self.seen_nonces: set[str] = set()
        self._http: ThreadingHTTPServer | None = None
        self._udp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._jpeg: bytes | None = None
        self._connections: set[socket.socket] = set()

    # ------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        assert self._http is not None
        return self._http.server_address[1]

    @property
    def device_url(self) -> str:
        return f"http://{self.config.advertise_host}:{self.port}/onvif/device_service"

    @property
    def discovery_port(self) -> int:
        assert self._udp is not None
        return self._udp.getsockname()[1]

    def start(self) -> "OnvifSimulator":
        handler = type("Handler", (_Handler,), {"sim": self})
        self._http = _QuietServer((self.host, self._http_port), handler)
        self._http.daemon_threads = True
        self._spawn(lambda: self._http.serve_forever(poll_interval=0.05))  # quick shutdown()
        if self._discovery_port is not None:
            self._udp = _discovery_socket(self.host, self._discovery_port, self._multicast)
            self._spawn(self._serve_discovery)
        return self

    def _spawn(self, target) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:  # a powered-off device drops its keep-alive connections too
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._udp is not None:
            self._udp.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> "OnvifSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ device state
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.config.clock_offset

    def position(self) -> tuple[float, float, float]:
        with self._lock:
            return self._integrate()

    def _integrate(self) -> tuple[float, float, float]:
        now = time.monotonic()
        end = min(now, self._move_until) if self._move_until else now
        dt_s = max(0.0, end - self._move_started)
        vp, vt, vz = self._velocity
        self.pan = _clip(self.pan + vp * dt_s * 0.5, -1, 1)  # full speed = half the range per second
        self.tilt = _clip(self.tilt + vt * dt_s * 0.5, -1, 1)
        self.zoom = _clip(self.zoom + vz * dt_s * 0.5, 0, 1)
        self._move_started = now
        if self._move_until and now >= self._move_until:
            self._velocity = (0.0, 0.0, 0.0)
            self._move_until = None
        return self.pan, self.tilt, self.zoom

    def moving(self) -> bool:
        with self._lock:
            self._integrate()
            return self._velocity != (0.0, 0.0, 0.0)

    def emit_event(self, topic: str, data: dict[str, str], source: dict[str, str] | None = None,
                   operation: str = "Changed") -> None:
        """Raise a camera-side alarm: queued to every live PullPoint subscription."""
        msg = _notification(topic, self.now(), operation, source or {"VideoSourceConfigurationToken": "vsc_main"}, data)
        with self._lock:
            for sub in self._subscriptions.values():
                if sub.wants(topic):
                    sub.queue.append(msg)
            self._lock.notify_all()

    # ------------------------------------------------------------ discovery
    def _serve_discovery(self) -> None:
        assert self._udp is not None
        self._udp.settimeout(0.1)  # close() does not wake a blocked recvfrom on Linux
        while not self._stopping.is_set():
            try:
                data, addr = self._udp.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                root = safe_et.fromstring(data)
            except Exception:  # noqa: BLE001 (garbage on the wire is ignored, as devices do)
                continue
            if root.find(".//{%s}Probe" % WSD_NS["d"]) is None:
                continue
            message_id = root.findtext(".//{%s}MessageID" % WSD_NS["a"]) or ""
            self._udp.sendto(self.probe_match(message_id), addr)

    def probe_match(self, relates_to: str) -> bytes:
        c = self.config
        scopes = " ".join([
            "onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming",
            f"onvif://www.onvif.org/name/{c.name.replace(' ', '%20')}", f"onvif://www.onvif.org/hardware/{c.model}",
            f"onvif://www.onvif.org/location/{c.location}",
        ] + (["onvif://www.onvif.org/type/ptz"] if c.ptz else []))
        ns = " ".join(f'xmlns:{k}="{v}"' for k, v in WSD_NS.items())
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {ns}><s:Header>'
            f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID><a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
            "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
            "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header>"
            "<s:Body><d:ProbeMatches><d:ProbeMatch>"
            f"<a:EndpointReference><a:Address>{c.endpoint_uuid}</a:Address></a:EndpointReference>"
            "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
            f"<d:Scopes>{escape(scopes)}</d:Scopes><d:XAddrs>{self.device_url}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
        ).encode()

    # ------------------------------------------------------------ SOAP
    def check_auth(self, header: Element | None) -> bool:
        c = self.config
        token = header.find(".//{%s}UsernameToken" % NS["wsse"]) if header is not None else None
        if token is None:
            return False
        user = token.findtext("{%s}Username" % NS["wsse"])
        pw = token.find("{%s}Password" % NS["wsse"])
        if user != c.username or pw is None:
            return False
        if (pw.get("Type") or "").endswith("#PasswordText"):
            return pw.text == c.password
        nonce_b64 = token.findtext("{%s}Nonce" % NS["wsse"]) or ""
        created = token.findtext("{%s}Created" % NS["wsu"]) or ""
        try:
            created_at = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
            nonce = base64.b64decode(nonce_b64)
        except ValueError:
            return False
        if created_at.tzinfo is None or abs(created_at - self.now()) > DIGEST_WINDOW:
            return False  # the camera's clock decides, as on real firmware
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + c.password.encode()).digest()).decode()
        with self._lock:
            if nonce_b64 in self.seen_nonces:
                return False  # replayed digest
            ok = expected == (pw.text or "").strip()
            if ok:
                self.seen_nonces.add(nonce_b64)
        return ok

    def check_http_digest(self, method: str, path: str, header: str) -> bool:
        """RFC 7616 digest (MD5, qop=auth) as camera web servers use for snapshot URLs."""
        if not header.lower().startswith("digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        c = self.config
        if fields.get("username") != c.username or fields.get("realm") != HTTP_REALM or fields.get("uri") != path:
            return False
        ha1 = hashlib.md5(f"{c.username}:{HTTP_REALM}:{c.password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{path}".encode()).hexdigest()
        expected = hashlib.md5(
            f"{ha1}:{fields.get('nonce')}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}".encode()
        ).hexdigest()
        return expected == fields.get("response")

    def snapshot_jpeg(self) -> bytes:
        """A real JPEG of the sample footage (encoded once)."""
        with self._lock:
            if self._jpeg is None:
                import cv2

                capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
                ok, frame = capture.read()
                capture.release()
                if not ok:
                    raise RuntimeError(f"cannot read {SAMPLE_VIDEO}")
                self._jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
            return self._jpeg

    def dispatch(self, path: str, operation: str, body: Element) -> str:
        handlers = {
            "GetSystemDateAndTime": self._get_system_date_and_time,
            "GetDeviceInformation": self._get_device_information,
            "GetCapabilities": self._get_capabilities,
            "GetServices": self._get_services,
            "GetProfiles": self._get_profiles,
            "GetStreamUri": self._get_stream_uri,
            "GetSnapshotUri": self._get_snapshot_uri,
            "GetNodes": self._get_nodes,
            "ContinuousMove": self._continuous_move,
            "Stop": self._stop,
            "AbsoluteMove": self._absolute_move,
            "GetStatus": self._get_status,
            "GetPresets": self._get_presets,
            "SetPreset": self._set_preset,
            "GotoPreset": self._goto_preset,
            "CreatePullPointSubscription": self._create_pullpoint,
            "PullMessages": self._pull_messages,
            "Renew": self._renew,
            "Unsubscribe": self._unsubscribe,
        }
        service = path.rstrip("/").split("/")[2] if path.count("/") >= 2 else ""
        allowed = {
            "device_service": {"GetSystemDateAndTime", "GetDeviceInformation", "GetCapabilities", "GetServices"},
            "media_service": {"GetProfiles", "GetStreamUri", "GetSnapshotUri"},
            "ptz_service": {"GetNodes", "ContinuousMove", "Stop", "AbsoluteMove", "GetStatus", "GetPresets", "SetPreset", "GotoPreset"},
            "events_service": {"CreatePullPointSubscription"},
            "subscription": {"PullMessages", "Renew", "Unsubscribe"},
        }
        if (service == "ptz_service" and not self.config.ptz) or (service in ("events_service", "subscription") and not self.config.events):
            raise _Fault("env:Receiver", "ter:ActionNotSupported", f"{operation}: service not available", status=400)
        if operation in self.config.broken:
            raise _Fault("env:Receiver", "ter:Action", f"{operation}: internal error", status=500)
        if operation not in allowed.get(service, set()) or operation not in handlers:
            raise _Fault("env:Receiver", "ter:ActionNotSupported", f"{operation} not supported on {path}")
        return handlers[operation](body, path)

    def _get_system_date_and_time(self, body: Element, path: str) -> str:
        n = self.now()
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
            "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime><tt:Time><tt:Hour>{n.hour}</tt:Hour><tt:Minute>{n.minute}</tt:Minute><tt:Second>{n.second}</tt:Second></tt:Time>"
            f"<tt:Date><tt:Year>{n.year}</tt:Year><tt:Month>{n.month}</tt:Month><tt:Day>{n.day}</tt:Day></tt:Date></tt:UTCDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _get_device_information(self, body: Element, path: str) -> str:
        c = self.config
        return (
            f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{escape(c.manufacturer)}</tds:Manufacturer>"
            f"<tds:Model>{escape(c.model)}</tds:Model><tds:FirmwareVersion>{escape(c.firmware)}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{escape(c.serial)}</tds:SerialNumber><tds:HardwareId>{escape(c.hardware_id)}</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>"
        )

    def _base(self) -> str:
        return f"http://{self.config.advertise_host}:{self.port}/onvif"

    def _get_capabilities(self, body: Element, path: str) -> str:
        b = self._base()
        events = (
            f"<tt:Events><tt:XAddr>{b}/events_service</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
            "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
            "<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
        ) if self.config.events else ""
        ptz = f"<tt:PTZ><tt:XAddr>{b}/ptz_service</tt:XAddr></tt:PTZ>" if self.config.ptz else ""
        return (
            f"<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>{b}/device_service</tt:XAddr></tt:Device>{events}"
            f"<tt:Media><tt:XAddr>{b}/media_service</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
            "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
            f"{ptz}</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def _get_services(self, body: Element, path: str) -> str:
        b = self._base()
        entries = [("http://www.onvif.org/ver10/device/wsdl", "device_service"), ("http://www.onvif.org/ver10/media/wsdl", "media_service")]
        if self.config.ptz:
            entries.append(("http://www.onvif.org/ver20/ptz/wsdl", "ptz_service"))
        if self.config.events:
            entries.append(("http://www.onvif.org/ver10/events/wsdl", "events_service"))
        items = "".join(
            f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{b}/{p}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>"
            for ns, p in entries
        )
        return f"<tds:GetServicesResponse>{items}</tds:GetServicesResponse>"

    def _profile(self, token: str, name: str, width: int, height: int, fps: int) -> str:
        ptz = (
            '<tt:PTZConfiguration token="ptzcfg"><tt:Name>PTZ</tt:Name><tt:UseCount>2</tt:UseCount><tt:NodeToken>ptznode</tt:NodeToken>'
            "<tt:DefaultContinuousPanTiltVelocitySpace>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace"
            "</tt:DefaultContinuousPanTiltVelocitySpace></tt:PTZConfiguration>"
        ) if self.config.ptz else ""
        return (
            f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>'
            '<tt:VideoSourceConfiguration token="vsc_main"><tt:Name>VSC</tt:Name><tt:UseCount>2</tt:UseCount>'
            '<tt:SourceToken>vs1</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>'
            f'<tt:VideoEncoderConfiguration token="vec_{token}"><tt:Name>{name}</tt:Name><tt:UseCount>1</tt:UseCount>'
            f"<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height></tt:Resolution>"
            f"<tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>{fps}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>"
            "<tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port>"
            "<tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast><tt:SessionTimeout>PT60S</tt:SessionTimeout>"
            f"</tt:VideoEncoderConfiguration>{ptz}</trt:Profiles>"
        )

    def _get_profiles(self, body: Element, path: str) -> str:
        return (
            "<trt:GetProfilesResponse>" + self._profile("prof_main", "mainStream", 1920, 1080, 25)
            + self._profile("prof_sub", "subStream", 640, 360, 10) + "</trt:GetProfilesResponse>"
        )

    def _token(self, body: Element, tag: str = "ProfileToken") -> str:
        token = (body.findtext(".//{*}" + tag) or "").strip()
        if tag == "ProfileToken" and token not in ("prof_main", "prof_sub"):
            raise _Fault("env:Sender", "ter:InvalidArgVal/ter:NoProfile", f"no profile {token!r}")
        return token

    def _media_uri(self, response: str, uri: str) -> str:
        return (
            f"<trt:{response}><trt:MediaUri><tt:Uri>{escape(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            f"<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:{response}>"
        )

    def _get_stream_uri(self, body: Element, path: str) -> str:
        token = self._token(body)
        return self._media_uri("GetStreamUriResponse", self.config.main_stream if token == "prof_main" else self.config.sub_stream)

    def _get_snapshot_uri(self, body: Element, path: str) -> str:
        token = self._token(body)
        return self._media_uri("GetSnapshotUriResponse", f"http://{self.config.advertise_host}:{self.port}/snapshot/{token}.jpg")

    def _get_nodes(self, body: Element, path: str) -> str:
        gen = "http://www.onvif.org/ver10/tptz/PanTiltSpaces"
        absolute = (
            f"<tt:AbsolutePanTiltPositionSpace><tt:URI>{gen}/PositionGenericSpace</tt:URI><tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:XRange>"
            "<tt:YRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:YRange></tt:AbsolutePanTiltPositionSpace>"
        ) if self.config.absolute_ptz else ""
        return (
            '<tptz:GetNodesResponse><tptz:PTZNode token="ptznode" FixedHomePosition="false"><tt:Name>PTZ</tt:Name>'
            f"<tt:SupportedPTZSpaces>{absolute}<tt:ContinuousPanTiltVelocitySpace><tt:URI>{gen}/VelocityGenericSpace</tt:URI>"
            "<tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:XRange><tt:YRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:YRange>"
            "</tt:ContinuousPanTiltVelocitySpace></tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>255</tt:MaximumNumberOfPresets>"
            "<tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode></tptz:GetNodesResponse>"
        )

    def _continuous_move(self, body: Element, path: str) -> str:
        self._token(body)
        pt = body.find(".//{*}Velocity/{*}PanTilt")
        zoom = body.find(".//{*}Velocity/{*}Zoom")
        timeout = body.findtext(".//{*}Timeout")
        with self._lock:
            self._integrate()
            self._velocity = (
                float(pt.get("x", 0)) if pt is not None else 0.0,
                float(pt.get("y", 0)) if pt is not None else 0.0,
                float(zoom.get("x", 0)) if zoom is not None else 0.0,
            )
            self._move_started = time.monotonic()
            self._move_until = self._move_started + _duration_s(timeout) if timeout else None
        return "<tptz:ContinuousMoveResponse/>"

    def _stop(self, body: Element, path: str) -> str:
        self._token(body)
        with self._lock:
            self._integrate()
            self._velocity = (0.0, 0.0, 0.0)
            self._move_until = None
        return "<tptz:StopResponse/>"

    def _absolute_move(self, body: Element, path: str) -> str:
        self._token(body)
        if not self.config.absolute_ptz:
            raise _Fault("env:Receiver", "ter:ActionNotSupported/ter:NoAbsoluteSpace", "absolute moves not supported")
        pt = body.find(".//{*}Position/{*}PanTilt")
        zoom = body.find(".//{*}Position/{*}Zoom")
        with self._lock:
            self._integrate()
            self._velocity = (0.0, 0.0, 0.0)
            if pt is not None:
                self.pan, self.tilt = _clip(float(pt.get("x")), -1, 1), _clip(float(pt.get("y")), -1, 1)
            if zoom is not None:
                self.zoom = _clip(float(zoom.get("x")), 0, 1)
        return "<tptz:AbsoluteMoveResponse/>"

    def _vector(self, p: float, t: float, z: float) -> str:
        return f'<tt:PanTilt x="{p:.4f}" y="{t:.4f}"/><tt:Zoom x="{z:.4f}"/>'

    def _get_status(self, body: Element, path: str) -> str:
        self._token(body)
        moving = self.moving()
        p, t, z = self.position()
        state = "MOVING" if moving else "IDLE"
        return (
            f"<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>{self._vector(p, t, z)}</tt:Position>"
            f"<tt:MoveStatus><tt:PanTilt>{state}</tt:PanTilt><tt:Zoom>{state}</tt:Zoom></tt:MoveStatus>"
            f"<tt:UtcTime>{_iso(self.now())}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>"
        )

    def _get_presets(self, body: Element, path: str) -> str:
        self._token(body)
        with self._lock:
            items = list(self.presets.items())
        return "<tptz:GetPresetsResponse>" + "".join(
            f'<tptz:Preset token="{tok}"><tt:Name>{escape(name)}</tt:Name><tt:PTZPosition>{self._vector(*pos)}</tt:PTZPosition></tptz:Preset>'
            for tok, (name, pos) in items
        ) + "</tptz:GetPresetsResponse>"

    def _set_preset(self, body: Element, path: str) -> str:
        self._token(body)
        name = body.findtext(".//{*}PresetName") or ""
        token = body.findtext(".//{*}PresetToken") or f"preset{len(self.presets) + 1}"
        pos = self.position()
        with self._lock:
            self.presets[token] = (name or token, pos)
        return f"<tptz:SetPresetResponse><tptz:PresetToken>{escape(token)}</tptz:PresetToken></tptz:SetPresetResponse>"

    def _goto_preset(self, body: Element, path: str) -> str:
        self._token(body)
        token = self._token(body, "PresetToken")
        with self._lock:
            if token not in self.presets:
                raise _Fault("env:Sender", "ter:InvalidArgVal/ter:NoToken", f"no preset {token!r}")
            self._integrate()
            self._velocity = (0.0, 0.0, 0.0)
            self.pan, self.tilt, self.zoom = self.presets[token][1]
        return "<tptz:GotoPresetResponse/>"

    def _create_pullpoint(self, body: Element, path: str) -> str:
        seconds = _duration_s(body.findtext(".//{*}InitialTerminationTime") or "PT60S")
        expression = (body.findtext(".//{*}Filter/{*}TopicExpression") or "").strip()
        topics = tuple(t.strip() for t in expression.split("|") if t.strip())
        sub = _Subscription(id=uuid.uuid4().hex[:12], expires=self.now() + dt.timedelta(seconds=seconds), topics=topics)
        with self._lock:
            self._subscriptions[sub.id] = sub
        address = f"{self._base()}/subscription/{sub.id}"
        return (
            f"<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>{address}</wsa:Address>"
            f"</tev:SubscriptionReference><wsnt:CurrentTime>{_iso(self.now())}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{_iso(sub.expires)}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>"
        )

    def _subscription(self, path: str) -> _Subscription:
        sub_id = path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            sub = self._subscriptions.get(sub_id)
            if sub is None or sub.expires < self.now():
                self._subscriptions.pop(sub_id, None)
                raise _Fault("env:Receiver", "wsrf-rw:ResourceUnknownFault", f"subscription {sub_id} unknown or expired")
            return sub

    def _pull_messages(self, body: Element, path: str) -> str:
        sub = self._subscription(path)
        timeout = _duration_s(body.findtext(".//{*}Timeout") or "PT1S")
        limit = int(body.findtext(".//{*}MessageLimit") or "10")
        deadline = time.monotonic() + min(timeout, 60)
        with self._lock:
            while not sub.queue and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            messages, sub.queue[:] = sub.queue[:limit], sub.queue[limit:]
        return (
            f"<tev:PullMessagesResponse><tev:CurrentTime>{_iso(self.now())}</tev:CurrentTime>"
            f"<tev:TerminationTime>{_iso(sub.expires)}</tev:TerminationTime>{''.join(messages)}</tev:PullMessagesResponse>"
        )

    def _renew(self, body: Element, path: str) -> str:
        sub = self._subscription(path)
        seconds = _duration_s(body.findtext(".//{*}TerminationTime") or "PT60S")
        with self._lock:
            sub.expires = self.now() + dt.timedelta(seconds=seconds)
        return (
            f"<wsnt:RenewResponse><wsnt:TerminationTime>{_iso(sub.expires)}</wsnt:TerminationTime>"
            f"<wsnt:CurrentTime>{_iso(self.now())}</wsnt:CurrentTime></wsnt:RenewResponse>"
        )

    def _unsubscribe(self, body: Element, path: str) -> str:
        sub = self._subscription(path)
        with self._lock:
            self._subscriptions.pop(sub.id, None)
        return "<wsnt:UnsubscribeResponse/>"

    def subscription_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def drop_subscriptions(self) -> None:
        """Forget every subscription, as a device does when it reboots."""
        with self._lock:
            self._subscriptions.clear()


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 drops SYNs under concurrent clients (1 s retransmits)
    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up (timeouts under test) are expected; anything else is a simulator bug.
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            super().handle_error(request, client_address)


class _Fault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.status = code, subcode, reason, status

    def envelope(self) -> str:
        subcodes = self.subcode.split("/")
        sub_xml = ""
        for sc in reversed(subcodes):
            sub_xml = f"<env:Subcode><env:Value>{sc}</env:Value>{sub_xml}</env:Subcode>"
        return (
            f'{ENVELOPE_OPEN}<env:Body><env:Fault><env:Code><env:Value>{self.code}</env:Value>{sub_xml}</env:Code>'
            f'<env:Reason><env:Text xml:lang="en">{escape(self.reason)}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>'
        )


class _Handler(BaseHTTPRequestHandler):
    sim: OnvifSimulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (keep test output quiet)
        return

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without NODELAY Nagle + delayed ACK add 40 ms per call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.sim._lock:
            self.sim._connections.add(self.connection)

    def finish(self) -> None:
        with self.sim._lock:
            self.sim._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802
        if not self.path.startswith("/snapshot/"):
            self._send(404, b"not found", "text/plain")
            return
        if self.sim.config.behaviour == "silent":
            self.sim._stopping.wait(60)
            return
        if not self.sim.check_http_digest("GET", self.path, self.headers.get("Authorization", "")):
            self._challenge()
            return
        self._send(200, self.sim.snapshot_jpeg(), "image/jpeg")

    def do_POST(self) -> None:  # noqa: N802
        sim = self.sim
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        behaviour = sim.config.behaviour
        if behaviour == "silent":
            sim._stopping.wait(60)  # hold the connection open, never answer
            return
        if behaviour == "drip":  # a congested 4G link: a byte now and then, never finishing
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(200):
                if sim._stopping.wait(0.3):
                    return
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
            return
        if behaviour == "huge":  # well-formed but absurdly large
            body = b'<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>'
            body += b"<x>" + b"A" * (6 * 1024 * 1024) + b"</x></env:Body></env:Envelope>"
            self._send(200, body, "application/soap+xml")
            return
        if behaviour == "garbage":
            self._send(200, b"\x00\x01<html><body>Server Error<b></html>\xff garbage", "application/soap+xml")
            return
        if behaviour == "xml_bomb":
            self._send(200, XML_BOMB, "application/soap+xml")
            return
        try:
            root = safe_et.fromstring(raw)
            header = root.find("{%s}Header" % NS["env"])
            body = root.find("{%s}Body" % NS["env"])
            if body is None or len(body) == 0:
                raise _Fault("env:Sender", "ter:InvalidArgs", "no SOAP body")
            operation = body[0].tag.rsplit("}", 1)[-1]
            sim.requests.append(operation)
            if sim.config.auth_mode == "http_digest":
                # Firmwares that ignore WS-Security and guard the SOAP endpoint with HTTP digest.
                if operation not in PREAUTH_OPERATIONS and not sim.check_http_digest("POST", self.path, self.headers.get("Authorization", "")):
                    self._challenge()
                    return
            elif operation not in PREAUTH_OPERATIONS and not sim.check_auth(header):
                if sim.config.auth_mode == "http401":
                    self._challenge()
                    return
                raise _Fault("env:Sender", "ter:NotAuthorized", "Sender not Authorized")
            payload = sim.dispatch(self.path, operation, body[0])
            xml = f'<?xml version="1.0" encoding="UTF-8"?>{ENVELOPE_OPEN}<env:Body>{payload}</env:Body></env:Envelope>'
            self._send(200, xml.encode(), "application/soap+xml; charset=utf-8")
        except _Fault as fault:
            self._send(fault.status, fault.envelope().encode(), "application/soap+xml; charset=utf-8")
        except Exception as exc:  # noqa: BLE001 (a malformed request is the client's fault)
            fault = _Fault("env:Sender", "ter:InvalidArgs", f"bad request: {type(exc).__name__}")
            self._send(400, fault.envelope().encode(), "application/soap+xml; charset=utf-8")

    def _challenge(self) -> None:
        challenge = f'Digest realm="{HTTP_REALM}", qop="auth", nonce="{uuid.uuid4().hex}", algorithm=MD5'
        self._send(401, b"<html>401 Unauthorized</html>", "text/html", {"WWW-Authenticate": challenge})

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def _notification(topic: str, when: dt.datetime, operation: str, source: dict[str, str], data: dict[str, str]) -> str:
    def items(d: dict[str, str]) -> str:
        return "".join(f'<tt:SimpleItem Name="{escape(k)}" Value="{escape(v)}"/>' for k, v in d.items())

    return (
        '<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
        f"{escape(topic)}</wsnt:Topic><wsnt:Message>"
        f'<tt:Message UtcTime="{_iso(when)}" PropertyOperation="{operation}"><tt:Source>{items(source)}</tt:Source>'
        f"<tt:Data>{items(data)}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


def _discovery_socket(host: str, port: int, multicast: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if multicast:
        sock.bind(("", port))
        mreq = struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton("0.0.0.0"))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    else:
        sock.bind((host, port))
    return sock


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _duration_s(text: str | None) -> float:
    """xs:duration (PT5S, PT1M30S, PT0.5S) or an absolute dateTime → seconds."""
    import isodate

    text = (text or "").strip()
    if not text:
        return 0.0
    if text.startswith("P") or text.startswith("-P"):
        return isodate.parse_duration(text).total_seconds()
    return max(0.0, (isodate.parse_datetime(text) - dt.datetime.now(dt.UTC)).total_seconds())


def main() -> None:
    parser = argparse.ArgumentParser(description="ONVIF device simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--discovery-port", type=int, default=3702)
    parser.add_argument("--multicast", action="store_true")
    parser.add_argument("--advertise-host", default=None)
    parser.add_argument("--no-ptz", action="store_true")
    parser.add_argument("--seconds", type=float, default=30.0, help="exit after this long (never runs forever)")
    args = parser.parse_args()
    config = SimConfig(ptz=not args.no_ptz, advertise_host=args.advertise_host or args.host)
    with OnvifSimulator(config, host=args.host, http_port=args.http_port, discovery_port=args.discovery_port,
                        multicast=args.multicast) as sim:
        print(json.dumps({"device_url": sim.device_url, "endpoint": config.endpoint_uuid}), flush=True)
        time.sleep(args.seconds)


if __name__ == "__main__":
    main()
