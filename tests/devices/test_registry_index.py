"""Registry queries at county scale agree with a brute-force scan, and the fast loader with the careful one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devices import Registry, RegistryError, load_registry, parse_registry
from devices.registry import loader
from devices.registry.generate import generate_registry_yaml


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    path = tmp_path_factory.mktemp("county") / "cameras.yaml"
    path.write_text(generate_registry_yaml(5000, seed=3), encoding="utf-8")
    return load_registry(path)


def brute(reg: Registry, pred) -> list[str]:
    return [c.id for c in sorted(reg, key=lambda c: (c.jurisdiction, c.id)) if pred(c)]


def test_jurisdiction_subtree(county: Registry) -> None:
    for code in ("330381", "330381105", "330381105203", "330381105203004", "330382", "3303811"):
        assert county.in_jurisdiction(code).ids == brute(county, lambda c, code=code: c.jurisdiction.startswith(code)), code
    assert len(county.in_jurisdiction("330381")) == 5000


def test_tag_kind_box_and_combined(county: Registry) -> None:
    assert county.with_tag("school").ids == brute(county, lambda c: "school" in c.tags)
    assert county.of_kind("ptz").ids == brute(county, lambda c: c.kind == "ptz")
    box = (27.70, 120.55, 27.80, 120.65)
    inside = lambda c: box[0] <= c.position.lat <= box[2] and box[1] <= c.position.lon <= box[3]  # noqa: E731
    assert county.in_box(*box).ids == brute(county, inside)
    combined = county.query(jurisdiction="330381105", tags=["school", "road"], kind="fixed", box=box, mode="patrol")
    expected = brute(county, lambda c: c.jurisdiction.startswith("330381105") and {"school", "road"} <= set(c.tags)
                     and c.kind == "fixed" and inside(c) and c.analysis.mode == "patrol")
    assert combined.ids == expected
    assert county.with_tag("no-such-tag").ids == []


def test_within_radius_matches_haversine(county: Registry) -> None:
    lat, lon, radius = 27.78, 120.63, 2500.0

    def dist(c) -> float:
        p1, p2 = math.radians(lat), math.radians(c.position.lat)
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(c.position.lon - lon) / 2) ** 2
        return 2 * 6_371_008.8 * math.asin(math.sqrt(a))

    hits = county.within_radius(lat, lon, radius)
    assert hits, "the generated county has cameras near its centre"
    assert {c.id for c, _ in hits} == {c.id for c in county if dist(c) <= radius}
    assert [d for _, d in hits] == sorted(d for _, d in hits)
    assert all(abs(d - dist(c)) < 0.01 for c, d in hits)


def test_camera_set_is_a_sequence(county: Registry) -> None:
    result = county.in_jurisdiction("330381102")
    first_ten = result[:10]
    assert [c.id for c in first_ten] == result.ids[:10]
    assert result[0].id == result.ids[0] and result[-1].id == result.ids[-1]


def test_chunked_fast_path_equals_careful_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = generate_registry_yaml(4500, seed=11)  # more than two chunks
    fast = parse_registry(text, source="county.yaml")
    monkeypatch.setattr(loader, "_fast_load", lambda data, previous=None: None)
    careful = parse_registry(text, source="county.yaml")
    assert list(fast.cameras) == list(careful.cameras)
    assert all(fast.cameras[k] == careful.cameras[k] for k in fast.cameras)


def test_problem_deep_in_a_big_file_has_the_right_line(tmp_path: Path) -> None:
    text = generate_registry_yaml(3000, seed=5)
    lines = text.splitlines()
    target = next(n for n, t in enumerate(lines) if t == "  - id: c002750")
    lat_line = target + 3  # id, name, jurisdiction, position
    assert "position:" in lines[lat_line]
    lines[lat_line] = lines[lat_line].replace("lat: 27", "lat: 97")
    dup = next(n for n, t in enumerate(lines) if t == "  - id: c002999")
    lines[dup] = "  - id: c000001"
    path = tmp_path / "big.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    first = next(n for n, t in enumerate(lines) if t == "  - id: c000001") + 1
    assert info.value.problems == [
        f"{path}:{lat_line + 1}: cameras[2750].position.lat: Input should be less than or equal to 90 (got {float(lines[lat_line].split('lat: ')[1].split(',')[0])}) [camera c002750]",
        f"{path}:{dup + 1}: cameras[2999].id: duplicate camera id 'c000001' (first defined at line {first})",
    ]


def test_flow_style_file_falls_back_to_full_compose(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        'cameras: [{id: a, name: A, jurisdiction: "330381", position: {lat: 27.7, lon: 120.6}, streams: {main: "rtsp://h/a"}},\n'
        '  {id: b, name: B, jurisdiction: "330381", position: {lat: 27.7, lon: 520.6}, streams: {main: "rtsp://h/b"}}]\n',
        encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}:2: cameras[1].position.lon: ")


def test_duplicate_yaml_key_and_bad_encoding(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text('cameras:\n  - id: a\n    name: A\n    name: B\n', encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert info.value.problems == [f"{path}:4: cameras[0].name: key 'name' given twice in the same mapping (first at line 3)"]
    path.write_bytes("cameras:\n  - id: a\n    name: 城关镇\n".encode("gbk"))
    with pytest.raises(RegistryError, match=r"dup.yaml:3: \(encoding\): the file is not UTF-8"):
        load_registry(path)
