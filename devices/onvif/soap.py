"""SOAP plumbing shared by every ONVIF service: transport limits, digest auth, error mapping.

* every request has a connect/read timeout and an overall deadline;
* replies are capped in size and checked with defusedxml before zeep parses them,
  so a DTD, entity declaration (billion laughs) or external reference is refused,
  never expanded;
* WS-UsernameToken digests are stamped with the *device's* clock (local UTC plus
  the offset measured with GetSystemDateAndTime), because cameras reject digests
  whose ``Created`` is more than a few minutes from their own time;
* every failure becomes an :mod:`devices.onvif.errors` exception naming device and
  operation. The password never appears in any message or log line.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
import requests
import urllib3.exceptions
import zeep.exceptions
from defusedxml import DefusedXmlException
from zeep import Client
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from devices.onvif.errors import (
    OnvifAuthError,
    OnvifConnectionError,
    OnvifError,
    OnvifNotSupported,
    OnvifProtocolError,
    OnvifTimeout,
)
from devices.onvif.wsdl import SERVICES, document

MAX_REPLY_BYTES = 4 * 1024 * 1024  # the largest GetProfiles we have seen is ~200 kB

T = TypeVar("T")


class UnsafeReply(Exception):
    """A reply that must not be parsed (DTD/entities, too large, not XML)."""


class NotXmlReply(UnsafeReply):
    """The reply body is not well-formed XML."""


def check_xml(body: bytes) -> None:
    """Refuse DTDs, entity declarations and external references; refuse non-XML."""
    try:
        safe_et.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeReply(f"refused unsafe XML ({type(exc).__name__}: {exc})") from None
    except ParseError as exc:
        raise NotXmlReply(f"reply is not well-formed XML ({exc})") from None


def read_body(response: requests.Response, started: float, deadline_s: float, max_bytes: int) -> bytes:
    """Read a streamed response within an overall deadline and a size cap, then close it."""
    chunks: list[bytes] = []
    size = 0
    try:
        # read1 returns whatever has arrived (one recv), so the deadline is checked even
        # when a device drips a byte at a time, each within the per-recv read timeout.
        while True:
            chunk = response.raw.read1(65536, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise UnsafeReply(f"reply larger than {max_bytes} bytes")
            if time.monotonic() - started > deadline_s:
                raise requests.exceptions.ReadTimeout(f"reply not complete after {deadline_s:.1f}s")
            chunks.append(chunk)
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(str(exc)) from None
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ConnectionError(str(exc)) from None
    finally:
        response.close()
    return b"".join(chunks)


class SafeTransport(Transport):
    """zeep transport with timeouts, a size cap, no proxies from the environment and a defusedxml gate."""

    def __init__(self, timeout: float) -> None:
        session = requests.Session()
        # Cameras are on the local/private network: an HTTP(S)_PROXY meant for the
        # internet must not capture them (and would see the digests).
        session.trust_env = False
        super().__init__(session=session, timeout=timeout, operation_timeout=timeout)
        self.deadline_s = timeout

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        started = time.monotonic()
        response = self.session.post(
            address, data=message, headers=headers, timeout=(self.deadline_s, self.deadline_s), stream=True
        )
        response._content = read_body(response, started, self.deadline_s, MAX_REPLY_BYTES)  # noqa: SLF001
        body = response._content  # noqa: SLF001
        if response.status_code == 401:
            # HTTP-level auth rejection; the body is usually an HTML page.
            raise zeep.exceptions.TransportError("HTTP 401", status_code=401)
        if body:
            try:
                check_xml(body)
            except NotXmlReply:
                if response.status_code != 200:  # e.g. an HTML 404 page: report the status
                    raise zeep.exceptions.TransportError(f"HTTP {response.status_code}", status_code=response.status_code) from None
                raise
        return response

    def load(self, url: str) -> bytes:
        raise UnsafeReply(f"refusing to load {url}: schemas come from the local WSDL bundle only")


class OffsetDigestToken(UsernameToken):
    """WS-UsernameToken PasswordDigest whose ``Created`` follows the device clock."""

    def __init__(self, username: str, password: str, clock: "DeviceClock") -> None:
        super().__init__(username, password, use_digest=True, zulu_timestamp=True)
        self._clock = clock

    def apply(self, envelope: Any, headers: Any) -> Any:
        # A fresh token per message: nonce and Created must never repeat, and the
        # shared instance must stay immutable across threads.
        token = UsernameToken(
            self.username, self.password, use_digest=True, created=self._clock.device_now(), zulu_timestamp=True
        )
        return token.apply(envelope, headers)

    def __repr__(self) -> str:  # never show the password in debug output
        return f"OffsetDigestToken(username={self.username!r})"


@dataclass
class DeviceClock:
    """Offset between the device clock and ours (device − local), measured by GetSystemDateAndTime."""

    offset: dt.timedelta = dt.timedelta(0)

    def device_now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


def reply_settings() -> Settings:
    # strict=False: many cameras send slightly off-schema replies; DTDs/entities are
    # forbidden here too (defence in depth behind check_xml).
    return Settings(strict=False, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


def make_service(
    service: str, address: str, transport: SafeTransport, wsse: OffsetDigestToken | None, plugins: list | None = None
) -> Any:
    """A zeep service proxy bound to ``address`` for one of :data:`SERVICES`."""
    wsdl_file, namespace, binding = SERVICES[service]
    client = Client(document(wsdl_file), wsse=wsse, transport=transport, settings=reply_settings(), plugins=plugins)
    return client.create_service(f"{{{namespace}}}{binding}", address)


_AUTH_SUBCODES = ("notauthorized", "failedauthentication", "invalidsecurity", "sender not authorized")


def _fault_text(fault: zeep.exceptions.Fault) -> str:
    parts = [str(fault.message or "")]
    for sub in fault.subcodes or []:
        parts.append(getattr(sub, "localname", str(sub)))
    if fault.code:
        parts.append(str(fault.code))
    return " ".join(p for p in parts if p)


def call(device: str, operation: str, fn: Callable[[], T]) -> T:
    """Run one SOAP call and map every failure to an :class:`OnvifError` naming device and operation."""
    try:
        return fn()
    except OnvifError:
        raise
    except zeep.exceptions.Fault as fault:
        text = _fault_text(fault)
        low = text.lower()
        if any(code in low for code in _AUTH_SUBCODES):
            raise OnvifAuthError(device, operation, f"credentials rejected ({text}); check username/password and the device clock") from None
        if "actionnotsupported" in low or "notsupported" in low or "nosuchservice" in low:
            raise OnvifNotSupported(device, operation, f"device does not support it ({text})") from None
        raise OnvifProtocolError(device, operation, f"SOAP fault: {text}") from None
    except zeep.exceptions.TransportError as exc:
        if exc.status_code == 401:
            raise OnvifAuthError(device, operation, "HTTP 401: credentials rejected; check username/password") from None
        if exc.status_code in (404, 405, 501):
            raise OnvifNotSupported(device, operation, f"HTTP {exc.status_code}: service not available at this address") from None
        raise OnvifProtocolError(device, operation, f"HTTP {exc.status_code}: unexpected reply") from None
    except UnsafeReply as exc:
        raise OnvifProtocolError(device, operation, str(exc)) from None
    except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden, zeep.exceptions.ExternalReferenceForbidden) as exc:
        raise OnvifProtocolError(device, operation, f"refused unsafe XML ({type(exc).__name__})") from None
    except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, zeep.exceptions.ValidationError) as exc:
        raise OnvifProtocolError(device, operation, f"unusable reply: {exc}") from None
    except requests.exceptions.Timeout:
        raise OnvifTimeout(device, operation, "no answer within the timeout; is the device up and reachable?") from None
    except requests.exceptions.ConnectionError as exc:
        reason = exc.__class__.__name__
        text = str(exc)
        if "timed out" in text.lower():
            raise OnvifTimeout(device, operation, "connection timed out; is the device up and reachable?") from None
        raise OnvifConnectionError(device, operation, f"cannot connect or connection dropped ({reason}); check address, port and link") from None
    except requests.exceptions.RequestException as exc:
        raise OnvifProtocolError(device, operation, f"HTTP error: {exc.__class__.__name__}") from None
    except zeep.exceptions.Error as exc:
        raise OnvifProtocolError(device, operation, f"{type(exc).__name__}: {exc}") from None
