"""Catalog channels as registry cameras, beside ``cameras.yaml``.

A GB channel's stream URL points at the GB worker's PS endpoint
(``http://<media host>/gb28181/<channel>.ps``): opening it makes the worker
INVITE the device (one INVITE per channel, shared), and the ingest reader reads
it like any other URL. Jurisdiction: the longest matching prefix in the
civil-code mapping, else the item's CivilCode when it is a 6/9/12/15-digit
code, else the configured default.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import re
from pydantic import BaseModel
from sqlalchemy import Engine

from devices.gb28181 import persist
from devices.gb28181.persist import ChannelRow
from devices.registry.schema import Analysis, Camera, CameraKind, Position, Streams

log = logging.getLogger(__name__)
_ID = re.compile(r"^\d{20}$")


@dataclass(frozen=True)
class ChannelMapping:
    media_url: str = "http://127.0.0.1:15080"
    default_jurisdiction: str = "330381"
    default_position: tuple[float, float] = (27.83, 120.63)
    civil_code_map: Mapping[str, str] = field(default_factory=dict)  # civil-code / channel-id prefix -> jurisdiction
    device_kinds: Mapping[str, str] = field(default_factory=dict)  # device id -> drone | 4g_terminal | ptz | fixed
    analysis_mode: str = "patrol"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChannelMapping:
        """``XUELIANG_GB28181_MEDIA_URL``, ``XUELIANG_GB28181_JURISDICTION`` (default code),
        ``XUELIANG_GB28181_CIVIL_CODES`` (``prefix=code,prefix=code``), ``XUELIANG_GB28181_DEVICE_KINDS``
        (``deviceid=drone,…``), ``XUELIANG_GB28181_ANALYSIS`` (patrol | continuous | off)."""
        import os

        env = os.environ if env is None else env

        def pairs(name: str) -> dict[str, str]:
            raw = env.get(name, "")
            out = {}
            for part in filter(None, (p.strip() for p in raw.split(","))):
                key, sep, value = part.partition("=")
                if not sep or not key.strip() or not value.strip():
                    raise ValueError(f"{name}: {part!r} is not key=value")
                out[key.strip()] = value.strip()
            return out
        kinds = pairs("XUELIANG_GB28181_DEVICE_KINDS")
        for kind in kinds.values():
            CameraKind(kind)  # ValueError names the bad kind
        base = cls()
        return cls(media_url=env.get("XUELIANG_GB28181_MEDIA_URL", base.media_url),
                   default_jurisdiction=env.get("XUELIANG_GB28181_JURISDICTION", base.default_jurisdiction),
                   civil_code_map=pairs("XUELIANG_GB28181_CIVIL_CODES"), device_kinds=kinds,
                   analysis_mode=env.get("XUELIANG_GB28181_ANALYSIS", base.analysis_mode))

    def jurisdiction(self, row: ChannelRow) -> str:
        if self.civil_code_map:
            lengths = sorted({len(k) for k in self.civil_code_map}, reverse=True)  # only the prefix lengths that exist
            for key in (row.civil_code, row.channel_id):
                for n in lengths:
                    hit = self.civil_code_map.get(key[:n]) if n <= len(key) else None
                    if hit:
                        return hit
        code = row.civil_code
        if code.isdigit() and len(code) in (6, 9, 12, 15):
            return code
        return self.default_jurisdiction


MEDIA_TOKEN_REF = "${XUELIANG_GB28181_MEDIA_TOKEN}"  # the PS endpoint's token, resolved only when connecting


def stream_url(media_url: str, channel_id: str) -> str:
    """``http://gb:${XUELIANG_GB28181_MEDIA_TOKEN}@host:port/gb28181/<channel>.ps``: the token is an environment
    reference (``Camera.stream_url(resolve_secrets=True)`` fills it in at connect time; shown and logged masked)."""
    scheme, sep, rest = media_url.rstrip("/").partition("://")
    if not sep:
        raise ValueError(f"XUELIANG_GB28181_MEDIA_URL {media_url!r}: write http://host:port")
    return f"{scheme}://gb:{MEDIA_TOKEN_REF}@{rest.rpartition('@')[2]}/gb28181/{channel_id}.ps"


def control_headers(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers for the web process's calls to the GB worker's control routes (raises if the token is not set)."""
    from devices.gb28181.config import token_from_env

    return {"Authorization": f"Bearer {token_from_env(env)}"}


M = TypeVar("M", bound=BaseModel)


def _trusted(cls: type[M], values: dict[str, object]) -> M:
    """What ``model_construct`` ends with, without its per-field alias/default loop (every field is given here):
    ~5x faster, which matters at 30,000 channels × 3 models. A model that gained a field falls back to
    ``model_construct`` (which fills its default)."""
    if len(values) != len(cls.model_fields):
        return cls.model_construct(**values)
    m = cls.__new__(cls)
    object.__setattr__(m, "__dict__", values)
    object.__setattr__(m, "__pydantic_fields_set__", set(values))
    object.__setattr__(m, "__pydantic_extra__", None)
    object.__setattr__(m, "__pydantic_private__", None)
    return m


def channel_cameras(rows: list[ChannelRow], mapping: ChannelMapping) -> list[Camera]:
    """Cameras for *rows*; a row that does not make a valid camera is logged and left out.

    Rows come from our own table, so the per-field checks pydantic would repeat for every
    channel are done once here (id shape, jurisdiction code per distinct value, coordinates)
    and the models are constructed directly: 100,000 channels must index in seconds.
    """
    analysis = Analysis(mode=mapping.analysis_mode, fps=1.0)  # frozen: one instance shared by all
    codes: dict[str, bool] = {}
    out: list[Camera] = []
    kinds = {k: CameraKind(v) for k, v in mapping.device_kinds.items()}
    for r in rows:
        lat, lon = (r.lat, r.lon) if r.lat is not None and r.lon is not None and (r.lat or r.lon) else mapping.default_position
        code = mapping.jurisdiction(r)
        ok = codes.get(code)
        if ok is None:
            ok = codes[code] = code.isdigit() and len(code) in (6, 9, 12, 15)
        if not (ok and _ID.match(r.channel_id) and -90 <= lat <= 90 and -180 <= lon <= 180):
            log.warning("GB28181 channel %r left out of the registry: bad id, jurisdiction %r or position %s,%s", r.channel_id, code, lat, lon)
            continue
        kind = kinds.get(r.device_id) or (CameraKind.ptz if r.ptz_type == 1 else CameraKind.fixed)
        out.append(_trusted(Camera, {
            "id": r.channel_id, "name": (r.name or r.channel_id)[:200], "jurisdiction": code,
            "position": _trusted(Position, {"lat": lat, "lon": lon}), "kind": kind,
            "streams": _trusted(Streams, {"main": stream_url(mapping.media_url, r.channel_id), "sub": None}),
            "onvif": None, "analysis": analysis, "frame": None, "zones": [], "rules": [], "tags": ["gb28181", f"gb:{r.device_id}"],
            "health": None, "vendor": r.manufacturer or None, "model": r.model or None, "enabled": True}))
    return out


class GbChannelSource:
    """Registry source reading the channels the GB worker persisted."""

    name = "gb28181"

    def __init__(self, engine: Engine, mapping: ChannelMapping | None = None) -> None:
        self.engine = engine
        self.mapping = mapping or ChannelMapping()

    def version(self) -> Hashable:
        return persist.version(self.engine)

    def cameras(self) -> list[Camera]:
        from devices.registry.loader import gc_paused

        with gc_paused():  # 30,000 rows and models that all stay alive: see gc_paused
            return channel_cameras(persist.load_channels(self.engine), self.mapping)


def registry_sources(database_url: str, env: Mapping[str, str] | None = None) -> list[GbChannelSource]:
    """The GB source for a process's registry when ``XUELIANG_GB28181_ENABLED=1``, else none."""
    import os

    env = os.environ if env is None else env
    if env.get("XUELIANG_GB28181_ENABLED", "").lower() not in ("1", "true", "yes"):
        return []
    from sqlalchemy import create_engine

    return [GbChannelSource(create_engine(database_url), ChannelMapping.from_env(env))]
