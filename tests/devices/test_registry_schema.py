"""Every class of schema problem is reported with file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from devices import Camera, RegistryError, SecretError, load_registry

GOOD_CAMERA = """\
  - id: {id}
    name: 城关镇 测试点
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    kind: fixed
    streams:
      main: rtsp://127.0.0.1:8554/cam01
    analysis: {{mode: continuous, fps: 5}}
    zones:
      - id: hall
        polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
    rules:
      - {{id: r1, kind: zone_intrusion, zone: hall, classes: [person]}}
"""


def write(tmp_path: Path, body: str, name: str = "cameras.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert str(info.value).count("\n") == len(info.value.problems), "str() lists every problem"
    for problem in info.value.problems:
        assert problem in str(info.value)
    return info.value.problems


def line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def one_camera_file(tmp_path: Path, replace: tuple[str, str] | None = None, extra: str = "") -> Path:
    body = "cameras:\n" + GOOD_CAMERA.format(id="cam01") + extra
    if replace:
        assert replace[0] in body
        body = body.replace(*replace)
    return write(tmp_path, body)


def test_good_file_loads(tmp_path: Path) -> None:
    registry = load_registry(one_camera_file(tmp_path))
    cam = registry["cam01"]
    assert cam.jurisdiction == "330381101201"
    assert cam.rules[0].zone == "hall" and cam.effective_classes() == ["person"]


@pytest.mark.parametrize(
    ("replace", "needle", "field", "words"),
    [
        (("fps: 5", "fps: fast"), "fps: fast", "cameras[0].analysis.fps", "valid number"),
        (("lat: 27.78", "lat: 97.5"), "lat: 97.5", "cameras[0].position.lat", "less than or equal to 90"),
        (("kind: fixed", "kind: dome"), "kind: dome", "cameras[0].kind", "'fixed', 'ptz', 'drone' or '4g_terminal'"),
        (('jurisdiction: "330381101201"', "jurisdiction: '3303811'"), "3303811", "cameras[0].jurisdiction", "6 (county), 9 (township)"),
        (("main: rtsp://127.0.0.1:8554/cam01", "main: ftp://127.0.0.1/cam01"), "ftp://", "cameras[0].streams.main", "scheme must be one of"),
        (("main: rtsp://127.0.0.1:8554/cam01", "main: rtsp:///cam01"), "rtsp:///", "cameras[0].streams.main", "no host"),
        (("main: rtsp://127.0.0.1:8554/cam01", "main: rtsp://127.0.0.1:99999/cam01"), "99999", "cameras[0].streams.main", "invalid URL"),
        (("main: rtsp://127.0.0.1:8554/cam01", "main: rtsp://u:${BAD-NAME}@h/x"), "BAD-NAME", "cameras[0].streams.main", "malformed environment reference"),
        (("[0.9, 0.9]]", "[0.9, 1.4]]"), "1.4", "cameras[0].zones[0].polygon[2]", "outside the frame"),
        (("[0.9, 0.9]]", "[0.9, 0.1]]"), "polygon:", "cameras[0].zones[0].polygon", "no area"),
        (("classes: [person]", "classes: [persn]"), "persn", "cameras[0].rules[0].classes[0]", "unknown object class 'persn'"),
        (("zone: hall,", "zone: nowhere,"), "nowhere", "cameras[0].rules[0].zone", "unknown zone 'nowhere'"),
        (("kind: zone_intrusion, zone: hall,", "kind: tripwire,"), "tripwire", "cameras[0].rules[0].line", "needs line"),
        (("kind: zone_intrusion,", "kind: crowd,"), "crowd", "cameras[0].rules[0].min_count", "needs min_count"),
        (("classes: [person]}", "classes: [person], dwell_s: 5}"), "dwell_s", "cameras[0].rules[0].dwell_s", "does not apply"),
        (("kind: fixed", "kind: fixed\n    colour: red"), "colour: red", "cameras[0].colour", "unknown key 'colour'"),
        (("kind: fixed", "kind: fixed\n    health: {ignore: [too_drak]}"), "too_drak", "cameras[0].health.ignore[0]", "'too_dark'"),
        (("kind: fixed", "kind: fixed\n    health:\n      vqd: {blur_ratio: 0.2, dark_level: 30}"), "dark_level", "cameras[0].health.vqd.dark_level", "unknown key"),
        (("kind: fixed", "kind: fixed\n    health:\n      vqd: {blur_ratio: 3}"), "blur_ratio", "cameras[0].health.vqd.blur_ratio", "less than or equal to 1"),
        (("    kind: fixed\n", ""), "- id: cam01", "cameras[0]", None),  # kind has a default: no problem expected
    ],
)
def test_schema_error_names_file_line_field(tmp_path: Path, replace: tuple[str, str], needle: str, field: str, words: str | None) -> None:
    path = one_camera_file(tmp_path, replace)
    if words is None:
        load_registry(path)
        return
    problems = problems_of(path)
    expected_prefix = f"{path}:{line_of(path, needle)}: {field}: "
    assert any(p.startswith(expected_prefix) and words in p for p in problems), problems


def test_missing_field_points_at_the_channel(tmp_path: Path) -> None:
    path = one_camera_file(tmp_path, ("    name: 城关镇 测试点\n", ""))
    problems = problems_of(path)
    assert problems == [f"{path}:{line_of(path, '- id: cam01')}: cameras[0].name: required field is missing [camera cam01]"]


def test_unknown_nested_key_lists_allowed_keys(tmp_path: Path) -> None:
    path = one_camera_file(tmp_path, ("fps: 5}", "fps: 5, gpu: true}"))
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'gpu: true')}: cameras[0].analysis.gpu: unknown key 'gpu'")
    assert "allowed here: mode, fps, detector_classes" in problem


def test_duplicate_ids_report_both_lines(tmp_path: Path) -> None:
    body = "cameras:\n" + GOOD_CAMERA.format(id="cam01") + GOOD_CAMERA.format(id="cam02") + GOOD_CAMERA.format(id="cam01")
    path = write(tmp_path, body)
    (problem,) = problems_of(path)
    lines = [n for n, text in enumerate(path.read_text().splitlines(), 1) if text == "  - id: cam01"]
    assert problem == f"{path}:{lines[1]}: cameras[2].id: duplicate camera id 'cam01' (first defined at line {lines[0]})"


def test_plain_passwords_rejected_and_never_echoed(tmp_path: Path) -> None:
    extra = (
        "    onvif: {url: 'http://10.1.1.1/onvif/device_service', username: admin, password: Hunter2secret}\n"
    )
    path = one_camera_file(tmp_path, ("main: rtsp://127.0.0.1:8554/cam01", "main: rtsp://admin:S3cretPw@10.1.1.1/ch1"), extra)
    problems = problems_of(path)
    text = "\n".join(problems)
    assert "Hunter2secret" not in text and "S3cretPw" not in text
    assert any(p.startswith(f"{path}:{line_of(path, 'Hunter2secret')}: cameras[0].onvif.password: plain-text password") for p in problems)
    assert any(p.startswith(f"{path}:{line_of(path, 'S3cretPw')}: cameras[0].streams.main: plain-text password") for p in problems)


def test_all_problems_of_a_file_reported_at_once(tmp_path: Path) -> None:
    body = "cameras:\n" + GOOD_CAMERA.format(id="a") + GOOD_CAMERA.format(id="b").replace("fps: 5", "fps: -1").replace(
        "lat: 27.78", "lat: north") + "    bogus: 1\n"
    path = write(tmp_path, body)
    problems = problems_of(path)
    fields = sorted(p.split(": ")[1] for p in problems)
    assert fields == ["cameras[1].analysis.fps", "cameras[1].bogus", "cameras[1].position.lat"]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, "cameras:\n  - id: a\n    name: [unclosed\n    kind: fixed\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:") and "(yaml syntax)" in problem
    assert int(problem.split(":")[1]) in (3, 4, 5)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ("", "(document)", "empty"),
        ("- id: a\n", "(document)", "expected a mapping"),
        ("cams: []\n", "cams", "unknown key 'cams'"),
        ("cameras: {a: 1}\n", "cameras", "must be a list"),
        ("version: 7\ncameras: []\n", "version", "unsupported version"),
    ],
)
def test_document_shape_problems(tmp_path: Path, body: str, field: str, words: str) -> None:
    path = write(tmp_path, body)
    problems = problems_of(path)
    assert any(f": {field}: " in p and words in p and p.startswith(f"{path}:") for p in problems), problems


def test_unreadable_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "missing.yaml")
    assert "cannot read" in problems[0] and "missing.yaml" in problems[0]


def test_yaml_off_and_numeric_jurisdiction_accepted(tmp_path: Path) -> None:
    path = one_camera_file(tmp_path, ('jurisdiction: "330381101201"', "jurisdiction: 330381101201"))
    path.write_text(path.read_text().replace("mode: continuous", "mode: off").replace("    rules:\n      - {id: r1, kind: zone_intrusion, zone: hall, classes: [person]}\n", ""))
    cam = load_registry(path)["cam01"]
    assert cam.analysis.mode == "off" and cam.jurisdiction == "330381101201"


def test_rules_with_analysis_off_rejected(tmp_path: Path) -> None:
    path = one_camera_file(tmp_path, ("mode: continuous", "mode: 'off'"))
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'mode:')}: cameras[0].analysis.mode: analysis is off but the camera has rules")


# --------------------------------------------------------------------------- secrets and masking

def secret_camera(**overrides: object) -> Camera:
    data: dict[str, object] = {
        "id": "ptz9", "name": "球机", "jurisdiction": "330381103", "position": {"lat": 27.7, "lon": 120.6}, "kind": "ptz",
        "streams": {"main": "rtsp://${CAM_USER}:${CAM_PASS}@10.0.0.9:554/Streaming/Channels/101"},
        "onvif": {"url": "http://10.0.0.9/onvif/device_service", "username": "${CAM_USER}", "password": "${CAM_PASS}"},
    }
    data.update(overrides)
    return Camera.model_validate(data)


def test_stream_url_resolves_only_on_request() -> None:
    cam = secret_camera()
    assert cam.stream_url("main") == "rtsp://${CAM_USER}:${CAM_PASS}@10.0.0.9:554/Streaming/Channels/101"
    assert cam.stream_url("sub") == cam.stream_url("main"), "sub falls back to main"
    env = {"CAM_USER": "admin", "CAM_PASS": "p@ss:w/rd"}
    assert cam.stream_url("main", resolve_secrets=True, env=env) == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.9:554/Streaming/Channels/101"
    assert cam.onvif_credentials(env=env) == ("admin", "p@ss:w/rd")
    assert cam.secret_refs() == {"CAM_USER", "CAM_PASS"}


def test_missing_env_var_names_variable_and_camera() -> None:
    cam = secret_camera()
    with pytest.raises(SecretError, match=r"camera 'ptz9' streams.main needs environment variable CAM_PASS"):
        cam.stream_url("main", resolve_secrets=True, env={"CAM_USER": "admin"})
    with pytest.raises(SecretError, match=r"ptz9.*onvif.password.*CAM_PASS"):
        cam.onvif_credentials(env={"CAM_USER": "admin"})


def test_public_dict_masks_credentials() -> None:
    data = secret_camera().public_dict()
    assert data["onvif"]["password"] == "***"
    assert data["streams"]["main"] == "rtsp://${CAM_USER}:***@10.0.0.9:554/Streaming/Channels/101"
    assert "CAM_PASS" not in repr(data)


def test_cross_checks_apply_to_cameras_built_in_code() -> None:
    with pytest.raises(ValueError, match="unknown zone 'z'"):
        secret_camera(rules=[{"id": "r", "kind": "zone_intrusion", "zone": "z"}])


def test_classes_alias_and_defaults() -> None:
    cam = secret_camera(analysis={"mode": "patrol", "classes": ["car"]}, zones=[{"id": "p", "polygon": [[0, 0], [1, 0], [1, 1]]}],
                        rules=[{"id": "park", "kind": "illegal_parking", "zone": "p", "dwell_s": 120}])
    assert cam.analysis.detector_classes == ["car"] and cam.analysis.classes == ["car"]
    assert cam.rules[0].effective_classes == ["car", "truck", "bus", "motorcycle"]


def test_schedule_windows_span_midnight() -> None:
    from datetime import datetime

    cam = secret_camera(zones=[{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]]}], analysis={"mode": "continuous"},
                        rules=[{"id": "night", "kind": "zone_intrusion", "zone": "z",
                                "schedule": [{"start": "22:00", "end": "06:00", "days": ["fri"]}]}])
    rule = cam.rules[0]
    assert rule.active_at(datetime(2026, 11, 27, 23, 0))      # Friday 23:00
    assert rule.active_at(datetime(2026, 11, 28, 5, 59))      # Saturday early morning, Friday's window
    assert not rule.active_at(datetime(2026, 11, 28, 23, 0))  # Saturday night: not scheduled
    assert not rule.active_at(datetime(2026, 11, 27, 12, 0))


def test_rule_tuning_knobs_by_kind() -> None:
    zones = [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]]}]
    cam = secret_camera(zones=zones, analysis={"mode": "continuous"}, rules=[
        {"id": "c", "kind": "crowd", "zone": "z", "min_count": 8, "dwell_s": 20},
        {"id": "f", "kind": "fall", "upright_ratio": 1.5, "lying_ratio": 1.1, "dwell_s": 2},
        {"id": "a", "kind": "abandoned_object", "zone": "z", "owner_radius": 2, "max_move": 0.3, "gap_s": 4},
        {"id": "t", "kind": "tripwire", "line": [[0, 0.5], [1, 0.5]], "hysteresis": 0.2},
    ])
    assert cam.rules[0].cooldown_s == 30.0 and cam.rules[3].hysteresis == 0.2, "per-kind defaults live in the schema"
    with pytest.raises(ValueError, match="owner_radius does not apply to a zone_intrusion rule"):
        secret_camera(zones=zones, rules=[{"id": "r", "kind": "zone_intrusion", "zone": "z", "owner_radius": 2}])


def test_yaml_errors_never_quote_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "cameras:\n  - id: a\n    streams: {main: rtsp://admin:Sup3rSecret@h/x\n    name: b\n")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert "Sup3rSecret" not in str(info.value)
    path = write(tmp_path, "cameras:\n  - id: a\n    name: !!python/object:os.system Sup3rSecret\n")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert "Sup3rSecret" not in str(info.value) and f"{path}:3: (yaml): Invalid tag" in str(info.value)
