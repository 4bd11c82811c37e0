"""YAML + GB channels loaded and indexed at county scale: the issue's floor is 100,000 channels in ≤ 3 s.

CPU seconds are measured (the box is shared: wall time follows the other jobs). The default run
checks 20,000 channels against the same budget per channel with a margin for a busy box, and the
mechanisms that make it (collector paused and the survivors frozen, the file's registry never
indexed when sources are combined into another); ``-m slow`` checks the full 100,000 against 3 s.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from command.db import open_database
from devices import RegistryWatcher
from devices.gb28181 import ChannelMapping, GbChannelSource, persist
from devices.gb28181.manscdp import CatalogItem
from devices.registry.generate import generate_registry_yaml
from devices.registry.index import Registry


def _county(tmp_path: Path, yaml_channels: int, gb_channels: int) -> tuple[Path, GbChannelSource]:
    db = open_database(f"sqlite:///{tmp_path / 'gb.db'}", upgrade=True)
    per_device = 300
    for d in range(gb_channels // per_device):
        device = f"34020000001180{d:06d}"
        persist.save_catalog(db.engine, device, [
            CatalogItem(device_id=f"34020000001320{d:03d}{i:03d}", name=f"通道 {d}-{i}", civil_code="330381101",
                        manufacturer="Dahua", model="NVR", latitude=27.8 + i * 1e-4, longitude=120.6 + d * 1e-4,
                        ptz_type=1 if i % 10 == 0 else 3) for i in range(per_device)])
    path = tmp_path / "cameras.yaml"
    path.write_text(generate_registry_yaml(yaml_channels), encoding="utf-8")
    return path, GbChannelSource(db.engine, ChannelMapping())


def _load_and_index(path: Path, source: GbChannelSource) -> tuple[Registry, float]:
    gc.collect()
    c0 = time.process_time()
    registry = RegistryWatcher(path, sources=[source]).current
    registry.index  # noqa: B018 - built on first use; part of "load and index"
    return registry, time.process_time() - c0


def test_twenty_thousand_channels_within_the_per_channel_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, source = _county(tmp_path, 14_000, 6_000)
    built: list[int] = []
    real_build = type(Registry([]).index).build
    monkeypatch.setattr(type(Registry([]).index), "build", classmethod(lambda cls, geo: built.append(len(geo)) or real_build(geo)))
    registry, cpu_s = _load_and_index(path, source)
    assert len(registry) == 20_000 and len(registry.with_tag("gb28181")) == 6_000
    assert len(registry.in_jurisdiction("330381101")) >= 6_000  # queries answer from the one index
    assert built == [20_000]  # the file's 14,000 were not indexed on their own first
    assert gc.isenabled()  # the collector is back after the load
    assert cpu_s <= 3.0 * 20_000 / 100_000 * 2.0, f"{cpu_s:.2f} s CPU for 20,000 channels"  # 2x margin: a shared box


@pytest.mark.slow
def test_one_hundred_thousand_channels_load_and_index_within_three_seconds(tmp_path: Path) -> None:
    path, source = _county(tmp_path, 70_000, 30_000)
    registry, cpu_s = _load_and_index(path, source)
    assert len(registry) == 100_000
    assert cpu_s <= 3.0, f"{cpu_s:.2f} s CPU for 100,000 channels"
