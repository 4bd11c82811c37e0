"""Boundary models: what other packages hand to ``command``."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

RULE_KINDS = (
    "zone_intrusion",
    "tripwire",
    "loitering",
    "crowd",
    "fall",
    "abandoned_object",
    "illegal_parking",
    "onvif_event",
    "gb28181_alarm",
)


class AlertIn(BaseModel):
    """One analytics alert, the intake contract of ``xl:alerts`` (docs/ARCHITECTURE.md)."""

    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(min_length=1, max_length=64, description="uuid hex; the idempotency key")
    camera_id: str = Field(min_length=1, max_length=128)
    camera_name: str = Field(max_length=256)
    jurisdiction_code: str = Field(pattern=r"^\d{6}(\d{3}){0,3}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    rule_id: str = Field(min_length=1, max_length=128)
    rule_kind: str = Field(min_length=1, max_length=64)
    object_class: str = Field(max_length=64)
    confidence: float = Field(ge=0, le=1)
    track_id: int | None = None
    ts: AwareDatetime
    boxes: list[list[float]] = Field(default_factory=list)
    frame_width: int = Field(gt=0)
    frame_height: int = Field(gt=0)
    dedup_key: str = Field(max_length=256)
    clip_path: str | None = None
    epoch: int | None = Field(default=None, ge=0, description="cluster assignment epoch (analytics.cluster); stale ones are rejected")

    @field_validator("boxes")
    @classmethod
    def _boxes_are_xyxy(cls, boxes: list[list[float]]) -> list[list[float]]:
        for i, box in enumerate(boxes):
            if len(box) != 4:
                raise ValueError(f"boxes[{i}] must be [x1, y1, x2, y2], got {len(box)} numbers")
        return boxes

    @field_validator("ts")
    @classmethod
    def _ts_utc(cls, ts: datetime) -> datetime:
        return ts.astimezone(UTC)
