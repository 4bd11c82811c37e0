"""MANSCDP XML bodies (``Application/MANSCDP+xml``): decode, parse, build.

Devices declare ``encoding="GB2312"`` and often send UTF-8 anyway (or the
reverse). Expat cannot decode multi-byte Chinese encodings itself, so the
bytes are decoded here (GB18030, a superset of GB2312/GBK, or UTF-8, whichever
decodes) and the declaration is stripped before parsing. Parsing goes through
defusedxml: a body comes from the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

MAX_BODY_BYTES = 256 * 1024
_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.S)
_ENC = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9_-]+)["']""")
_GB = ("gb2312", "gbk", "gb18030")


class ManscdpError(ValueError):
    """A body that is not usable MANSCDP; the message says what is wrong."""


@dataclass(frozen=True)
class Manscdp:
    """One parsed body: root tag (Query/Response/Notify/Control), CmdType, SN, DeviceID, the element."""

    root: str
    cmd_type: str
    sn: int
    device_id: str
    element: Element = field(repr=False)
    charset: str = "GB2312"

    def text(self, path: str, default: str = "") -> str:
        value = self.element.findtext(path)
        return value.strip() if value is not None else default


def decode_body(body: bytes) -> tuple[str, str]:
    """(text without the XML declaration, charset name to answer in)."""
    if len(body) > MAX_BODY_BYTES:
        raise ManscdpError(f"body of {len(body)} bytes exceeds the {MAX_BODY_BYTES}-byte limit")
    declared = b""
    m = _DECL.match(body)
    if m:
        enc = _ENC.search(m.group(0))
        declared = enc.group(1).lower() if enc else b""
        body = body[m.end():]
    # UTF-8 first: GB18030 decodes almost any byte string (UTF-8 included) into nonsense, while
    # GB2312 Chinese text is practically never valid UTF-8.
    declared_gb = declared.decode(errors="ignore") in _GB or not declared
    for codec in ("utf-8", "gb18030"):
        try:
            text = body.decode(codec)
        except UnicodeDecodeError:
            continue
        if text.isascii():  # says nothing about the device's charset: answer in what it declares
            return text, "GB2312" if declared_gb else "UTF-8"
        return text, "UTF-8" if codec == "utf-8" else "GB2312"
    raise ManscdpError("body is neither GB2312/GB18030 nor UTF-8 text")


def parse(body: bytes) -> Manscdp:
    """Parse a MANSCDP body; :class:`ManscdpError` with the reason when it is not one."""
    text, charset = decode_body(body)
    if not text.strip():
        raise ManscdpError("empty body")
    try:
        root = SafeET.fromstring(text)
    except SafeET.ParseError as exc:
        raise ManscdpError(f"not well-formed XML: {exc}") from None
    except Exception as exc:  # defusedxml refuses entities/DTDs with its own exceptions
        raise ManscdpError(f"refused XML: {type(exc).__name__}: {exc}") from None
    cmd = (root.findtext("CmdType") or "").strip()
    if not cmd:
        raise ManscdpError(f"<{root.tag}> has no CmdType")
    sn_text = (root.findtext("SN") or "").strip()
    try:
        sn = int(sn_text)
    except ValueError:
        raise ManscdpError(f"SN {sn_text!r} is not a number") from None
    device_id = (root.findtext("DeviceID") or "").strip()
    return Manscdp(root=root.tag, cmd_type=cmd, sn=sn, device_id=device_id, element=root, charset=charset)


def _esc(value: object) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def build(root: str, cmd_type: str, sn: int, device_id: str, fields: dict[str, object] | None = None,
          *, extra_xml: str = "", charset: str = "GB2312") -> bytes:
    """A MANSCDP body in *charset* (GB2312 bodies are encoded as GB18030, byte-identical for GB2312 text)."""
    parts = [f'<?xml version="1.0" encoding="{charset}"?>\r\n<{root}>\r\n<CmdType>{cmd_type}</CmdType>\r\n',
             f"<SN>{sn}</SN>\r\n<DeviceID>{_esc(device_id)}</DeviceID>\r\n"]
    for key, value in (fields or {}).items():
        parts.append(f"<{key}>{_esc(value)}</{key}>\r\n")
    parts.append(extra_xml)
    parts.append(f"</{root}>\r\n")
    text = "".join(parts)
    return text.encode("utf-8" if charset.upper() == "UTF-8" else "gb18030")


@dataclass(frozen=True)
class CatalogItem:
    """One ``<Item>`` of a Catalog response."""

    device_id: str
    name: str
    parent_id: str = ""
    civil_code: str = ""
    manufacturer: str = ""
    model: str = ""
    address: str = ""
    status: str = ""
    parental: bool = False
    longitude: float | None = None
    latitude: float | None = None
    ptz_type: int | None = None


def _float(text: str | None) -> float | None:
    try:
        v = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return v if v is not None and v == v else None


def catalog_items(msg: Manscdp) -> tuple[int, list[CatalogItem]]:
    """(SumNum, items) of a Catalog response; items without a DeviceID are skipped."""
    sum_text = msg.text("SumNum")
    try:
        sum_num = int(sum_text)
    except ValueError:
        raise ManscdpError(f"Catalog SumNum {sum_text!r} is not a number") from None
    items: list[CatalogItem] = []
    for item in msg.element.iter("Item"):
        did = (item.findtext("DeviceID") or "").strip()
        if not did:
            continue
        ptz = (item.findtext("Info/PTZType") or item.findtext("PTZType") or "").strip()
        items.append(CatalogItem(
            device_id=did, name=(item.findtext("Name") or did).strip() or did,
            parent_id=(item.findtext("ParentID") or "").strip(), civil_code=(item.findtext("CivilCode") or "").strip(),
            manufacturer=(item.findtext("Manufacturer") or "").strip(), model=(item.findtext("Model") or "").strip(),
            address=(item.findtext("Address") or "").strip(), status=(item.findtext("Status") or "").strip(),
            parental=(item.findtext("Parental") or "0").strip() == "1",
            longitude=_float(item.findtext("Longitude")), latitude=_float(item.findtext("Latitude")),
            ptz_type=int(ptz) if ptz.isdigit() else None,
        ))
    return sum_num, items
