"""Mobile-unit telemetry with a simulated drone and 4G terminal (no physical device here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices import load_registry
from devices.mobile import MobileTracker, Telemetry, UnknownUnitError, ingest_telemetry
from xueliang.settings import REPO_ROOT

REGISTRY = load_registry(REPO_ROOT / "configs" / "cameras.yaml")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def msg(unit: str = "uav01", dt: float = 0.0, lat: float = 27.7789, lon: float = 120.6556, **extra: object) -> dict:
    return {"unit_id": unit, "ts": (NOW + timedelta(seconds=dt)).isoformat(), "lat": lat, "lon": lon, **extra}


def test_track_with_simulated_drone_keeps_history_in_time_order() -> None:
    tracker = MobileTracker(REGISTRY, max_points=5)
    for k in (0, 2, 1, 3, 3):  # out of order and a duplicate
        tracker.update(Telemetry.model_validate(msg(dt=k, lat=27.7789 + k * 1e-4, alt_m=100 + k, battery_pct=80 - k)))
    assert [p.ts for p in tracker.history("uav01")] == [NOW + timedelta(seconds=k) for k in (0, 1, 2, 3)]
    assert tracker.latest("uav01").alt_m == 103
    for k in range(4, 10):
        tracker.update(Telemetry.model_validate(msg(dt=k)))
    assert len(tracker.history("uav01")) == 5 and tracker.history("uav01")[0].ts == NOW + timedelta(seconds=5)
    assert [p.ts for p in tracker.history("uav01", since=NOW + timedelta(seconds=8))] == [NOW + timedelta(seconds=k) for k in (8, 9)]


def test_unknown_or_fixed_units_rejected() -> None:
    tracker = MobileTracker(REGISTRY)
    with pytest.raises(UnknownUnitError, match="'ghost' rejected: it is not in the camera registry"):
        tracker.update(Telemetry.model_validate(msg(unit="ghost")))
    with pytest.raises(UnknownUnitError, match="'cam01' rejected: it is a fixed camera"):
        tracker.update(Telemetry.model_validate(msg(unit="cam01")))


def test_within_radius_mixes_cameras_and_fresh_mobile_units() -> None:
    tracker = MobileTracker(REGISTRY, stale_after_s=60)
    # The drone flies over 东城街道's square (cam01 at 27.5987, 120.3986; cam05, the village office, ~630 m
    # away); the 4G terminal patrols 北麓镇's market (cam04 at 27.6310, 120.8341), far away.
    tracker.update(Telemetry.model_validate(msg("uav01", lat=27.5993, lon=120.3993)))
    tracker.update(Telemetry.model_validate(msg("t4g01", lat=27.6300, lon=120.8345)))
    hits = tracker.within_radius(27.5987, 120.3986, 1000, now=NOW + timedelta(seconds=5))
    assert [(h.kind, h.id) for h in hits] == [("camera", "cam01"), ("mobile", "uav01"), ("camera", "cam05")]
    assert hits[1].distance_m == pytest.approx(96, abs=3) and hits[1].last_seen == NOW
    assert "uav01" not in [h.id for h in tracker.within_radius(27.5987, 120.3986, 1000, now=NOW + timedelta(minutes=5))], "stale"
    far = tracker.within_radius(27.6300, 120.8345, 200, now=NOW)
    assert [(h.kind, h.id) for h in far] == [("mobile", "t4g01"), ("camera", "cam04")]


def test_ingest_function_keeps_good_messages_of_a_bad_batch() -> None:
    tracker = MobileTracker(REGISTRY)
    result = ingest_telemetry(tracker, [
        msg(heading_deg=90, speed_mps=5, link_quality=88),
        msg(unit="t4g01", lat=95),
        msg(unit="uav01", dt=1, colour="red"),
        msg(unit="cam02"),
        {**msg(dt=2), "ts": "2026-11-24T10:00:02"},  # no offset
    ])
    assert result.accepted == 1
    errors = {r.index: r.error for r in result.rejected}
    assert "lat: Input should be less than or equal to 90" in errors[1]
    assert "colour: Extra inputs are not permitted" in errors[2]
    assert "fixed camera" in errors[3]
    assert "timezone" in errors[4]
    with pytest.raises(ValueError, match="not JSON"):
        ingest_telemetry(tracker, b"{oops")


