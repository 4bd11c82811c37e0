"""Server-side SIP digest authentication (RFC 2617/7616, MD5, qop=auth).

The challenge always names ``algorithm=MD5`` and ``qop="auth"``: some Dahua NVRs
never answer a challenge without ``algorithm``. Nonces are stateless (timestamp +
HMAC under a per-process key), so thousands of devices cost no memory and a
replayed nonce older than ``nonce_ttl_s`` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol mandates MD5


def parse_digest(header: str) -> dict[str, str]:
    """``Digest a="b", c=d`` → ``{"a": "b", "c": "d"}`` (names lower-cased); {} when not Digest."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}


def digest_response(*, username: str, realm: str, password: str, method: str, uri: str, nonce: str,
                    qop: str | None = None, nc: str = "", cnonce: str = "") -> str:
    ha1 = md5_hex(f"{username}:{realm}:{password}")
    ha2 = md5_hex(f"{method}:{uri}")
    if qop:
        return md5_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5_hex(f"{ha1}:{nonce}:{ha2}")


@dataclass
class DigestVerifier:
    """Issues challenges and checks ``Authorization`` headers for one realm."""

    realm: str
    nonce_ttl_s: float = 300.0
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def nonce(self) -> str:
        ts = f"{int(time.time()):x}"
        mac = hmac.new(self._key, ts.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{ts}{mac}"

    def nonce_ok(self, nonce: str) -> bool:
        ts, mac = nonce[:-24], nonce[-24:]
        if not ts or len(nonce) <= 24:
            return False
        good = hmac.new(self._key, ts.encode(), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(good, mac):
            return False
        try:
            return time.time() - int(ts, 16) <= self.nonce_ttl_s
        except ValueError:
            return False

    def challenge(self) -> str:
        return f'Digest realm="{self.realm}", nonce="{self.nonce()}", algorithm=MD5, qop="auth"'

    def check(self, header: str | None, *, method: str, password: str) -> tuple[bool, str]:
        """(ok, reason). ``reason`` says why a header was refused ("" when ok)."""
        if not header:
            return False, "no Authorization header"
        p = parse_digest(header)
        if not p:
            return False, "Authorization is not Digest"
        for name in ("username", "nonce", "uri", "response"):
            if not p.get(name):
                return False, f"Authorization lacks {name}"
        if p.get("algorithm", "MD5").upper() != "MD5":
            return False, f"unsupported algorithm {p.get('algorithm')!r} (MD5 only)"
        if not self.nonce_ok(p["nonce"]):
            return False, "stale or foreign nonce"
        qop = p.get("qop")
        if qop and qop != "auth":
            return False, f"unsupported qop {qop!r}"
        expected = digest_response(username=p["username"], realm=p.get("realm", self.realm), password=password,
                                   method=method, uri=p["uri"], nonce=p["nonce"], qop=qop,
                                   nc=p.get("nc", ""), cnonce=p.get("cnonce", ""))
        if not hmac.compare_digest(expected, p["response"].lower()):
            return False, "wrong password"
        return True, ""
