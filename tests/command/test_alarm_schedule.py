"""布防时间 has one parser: devices' TimeWindow, for cameras.yaml's ``schedule`` and for the overrides command stores;
command words its problems in zh-CN with the window and field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from command import AlarmError, RuleSchedule, alarms
from devices import RegistryError, TimeWindow, parse_registry


@pytest.mark.parametrize(("window", "message", "field"), [
    ({"start": "25:00", "end": "06:00"}, "第 1 个时间段的 start 必须是 HH:MM（如 22:00），收到 '25:00'", "windows[0].start"),
    ({"start": "22:00", "end": "6:00"}, "的 end 必须是 HH:MM", "windows[0].end"),
    ({"start": "22:00", "end": "22:00"}, "第 1 个时间段开始与结束相同", "windows[0]"),
    ({"start": "22:00", "end": "06:00", "days": ["mon", "fri", "holiday"]}, "days 只能是 mon, tue", "windows[0].days"),
    ({"start": "22:00", "end": "06:00", "colour": "red"}, "有未知字段 colour", "windows[0].colour"),
])
def test_bad_windows_are_named_in_chinese(window: dict, message: str, field: str) -> None:
    with pytest.raises(AlarmError, match=message) as caught:
        alarms.parse_windows([window])
    assert caught.value.field == field


def test_the_stored_override_and_the_yaml_schedule_are_the_same_windows() -> None:
    parsed = alarms.parse_windows([{"start": "22:00", "end": "06:00", "days": ["fri"]}])
    assert parsed == [TimeWindow(start="22:00", end="06:00", days=["fri"])]
    row = RuleSchedule(camera_id="c", rule_id="r", jurisdiction_code="330381101", enabled=True,
                       windows=[w.model_dump() for w in parsed], updated_by="t")
    # Friday 23:30 and Saturday 05:30 Beijing time are inside; Saturday 23:30 is not (the window is Friday's).
    assert alarms.armed(row, datetime(2026, 12, 4, 15, 30, tzinfo=UTC))
    assert alarms.armed(row, datetime(2026, 12, 4, 21, 30, tzinfo=UTC))
    assert not alarms.armed(row, datetime(2026, 12, 5, 15, 30, tzinfo=UTC))
    assert len(alarms.parse_windows([{"start": "08:00", "end": "09:00"}] * 20)) == 20
    with pytest.raises(AlarmError, match="最多 20 个"):
        alarms.parse_windows([{"start": "08:00", "end": "09:00"}] * 21)


def test_cameras_yaml_refuses_the_same_empty_window() -> None:
    text = """version: 1
cameras:
  - id: cam01
    name: 路口
    jurisdiction: "330381101"
    position: {lat: 27.78, lon: 120.65}
    streams: {main: "rtsp://127.0.0.1:8554/cam01"}
    zones: [{id: z, polygon: [[0, 0], [1, 0], [1, 1]]}]
    rules:
      - {id: r, kind: zone_intrusion, zone: z, schedule: [{start: "22:00", end: "22:00"}]}
"""
    with pytest.raises(RegistryError, match="start and end are the same"):
        parse_registry(text)
