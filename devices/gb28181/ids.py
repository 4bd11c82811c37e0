"""GB/T 28181 20-digit codes: validation and the parts the platform uses.

Layout (GB/T 28181-2016 appendix D): 8 digits centre code (GB/T 2260 civil code
+ grass-roots unit), 2 industry, 3 type, 1 network, 6 serial. Catalog items of
2/4/6/8 digits are administrative regions, not devices.
"""

from __future__ import annotations

import re

_ID = re.compile(r"^\d{20}$")
_REGION = re.compile(r"^(\d{2}){1,4}$")

# Type codes (digits 11-13) that carry video: cameras and IP cameras.
VIDEO_TYPES = frozenset({"131", "132"})
PLATFORM_TYPE = "200"
BUSINESS_GROUP_TYPE = "215"
VIRTUAL_ORG_TYPE = "216"
DEVICE_TYPES = {"111": "DVR", "112": "视频服务器", "113": "编码器", "114": "解码器", "118": "NVR",
                "131": "摄像机", "132": "网络摄像机", "134": "报警输入", "135": "报警输出", "200": "平台"}


class GbIdError(ValueError):
    """A code that is not a valid 20-digit GB/T 28181 id."""


def validate_id(value: str, *, what: str = "id") -> str:
    """Return *value* if it is a 20-digit id; raise :class:`GbIdError` naming *what* otherwise."""
    if not isinstance(value, str) or not _ID.match(value):
        raise GbIdError(f"{what} {value!r} is not a GB/T 28181 id: 20 digits (8 centre code, 2 industry, 3 type, 1 network, 6 serial)")
    return value


def is_id(value: str) -> bool:
    return bool(_ID.match(value or ""))


def is_region(value: str) -> bool:
    """2/4/6/8-digit civil codes that catalogs list as tree nodes."""
    return bool(_REGION.match(value or ""))


def type_code(gb_id: str) -> str:
    return gb_id[10:13]


def domain_of(gb_id: str) -> str:
    """The SIP domain: the first 10 digits of the platform id."""
    return gb_id[:10]


def civil_code_of(gb_id: str) -> str:
    """The civil-code part (first 6 digits, GB/T 2260 county level)."""
    return gb_id[:6]


def ssrc_for(domain: str, sequence: int, *, playback: bool = False) -> str:
    """10-digit SSRC of the SDP ``y=`` line: 0 live / 1 playback, domain digits 4–8, 4-digit sequence."""
    return f"{1 if playback else 0}{domain[3:8]}{sequence % 10000:04d}"
