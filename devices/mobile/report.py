"""One position report of a mobile unit (drone, 4G image-transmission terminal): the message format.

JSON, one object or a list of objects; HTTP body or MQTT payload::

    {"unit_id": "uav01", "ts": "2026-11-24T18:30:05.200+08:00",
     "lat": 27.7791, "lon": 120.6560, "alt_m": 120.5, "heading_deg": 87.0,
     "speed_mps": 6.2, "battery_pct": 74, "link_quality": 92}

``unit_id`` is the channel id in ``cameras.yaml`` (kind ``drone`` or ``4g_terminal``);
``ts`` is ISO 8601 with an offset or epoch seconds; position is WGS-84. Unknown
fields are rejected, so a firmware change is noticed rather than silently dropped.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Telemetry(BaseModel):
    """One position report of a mobile unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    ts: AwareDatetime
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    alt_m: float | None = Field(default=None, ge=-500, le=20000, description="metres above sea level")
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    speed_mps: float | None = Field(default=None, ge=0, le=200)
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    link_quality: float | None = Field(default=None, ge=0, le=100, description="0..100 % (RSRP/SNR mapped by the terminal)")
