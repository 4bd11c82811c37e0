"""Registered devices, their channels, multi-part catalog merging and keepalive health.

In memory, owned by the SIP server's event loop (no locks: one thread touches it).
What must survive a restart is written through :mod:`devices.gb28181.persist`.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field

from devices.gb28181.ids import VIDEO_TYPES, is_id, is_region, type_code
from devices.gb28181.manscdp import CatalogItem, ManscdpError

log = logging.getLogger(__name__)


@dataclass
class GbDevice:
    device_id: str
    addr: tuple[str, int]
    proto: str
    contact: str = ""
    register_call_id: str = ""
    charset: str = "GB2312"
    registered_at: float = 0.0
    expires_at: float = 0.0
    last_seen: float = 0.0
    keepalives: int = 0
    online: bool = True
    offline_reason: str = ""
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""


@dataclass
class Position:
    device_id: str
    lat: float
    lon: float
    time: str = ""
    speed: float | None = None
    direction: float | None = None
    received_at: float = field(default_factory=_time.time)


@dataclass
class _Merge:
    sum_num: int
    started: float
    items: dict[str, CatalogItem] = field(default_factory=dict)


class CatalogMerger:
    """Collects a Catalog answer split over several MESSAGEs, keyed by (device, SN), until SumNum items."""

    def __init__(self, *, max_items: int = 100_000, timeout_s: float = 30.0) -> None:
        self.max_items = max_items
        self.timeout_s = timeout_s
        self._open: dict[tuple[str, int], _Merge] = {}

    def add(self, device_id: str, sn: int, sum_num: int, items: list[CatalogItem], now: float | None = None) -> list[CatalogItem] | None:
        """Add one part; the full item list once SumNum distinct items arrived, else None."""
        now = _time.monotonic() if now is None else now
        if sum_num < 0 or sum_num > self.max_items:
            raise ManscdpError(f"Catalog SumNum {sum_num} outside 0..{self.max_items} (device {device_id}, SN {sn})")
        key = (device_id, sn)
        merge = self._open.get(key)
        if merge is None:
            merge = self._open[key] = _Merge(sum_num=sum_num, started=now)
        elif merge.sum_num != sum_num:
            log.warning("GB28181: device %s changed SumNum from %d to %d within Catalog SN %d; keeping %d",
                        device_id, merge.sum_num, sum_num, sn, merge.sum_num)
        for item in items:
            if len(merge.items) >= merge.sum_num and item.device_id not in merge.items:
                log.warning("GB28181: device %s sent more Catalog items than SumNum %d (SN %d); extra item %s ignored",
                            device_id, merge.sum_num, sn, item.device_id)
                continue
            merge.items[item.device_id] = item
        if len(merge.items) >= merge.sum_num:
            del self._open[key]
            return list(merge.items.values())
        return None

    def expire(self, now: float | None = None) -> list[tuple[str, int, int, list[CatalogItem]]]:
        """Merges older than ``timeout_s``: (device, SN, SumNum, items so far); removed from the open set."""
        now = _time.monotonic() if now is None else now
        done = [(k, m) for k, m in self._open.items() if now - m.started > self.timeout_s]
        for k, _ in done:
            del self._open[k]
        return [(k[0], k[1], m.sum_num, list(m.items.values())) for k, m in done]

    def __len__(self) -> int:
        return len(self._open)


def is_video_channel(item: CatalogItem) -> bool:
    """Catalog items that carry video: 20-digit ids of camera types (regions and groups are tree nodes)."""
    if is_region(item.device_id) or not is_id(item.device_id):
        return False
    return type_code(item.device_id) in VIDEO_TYPES


class DeviceStore:
    """Devices by id, channels by id (with the owning device)."""

    def __init__(self) -> None:
        self.devices: dict[str, GbDevice] = {}
        self.channels: dict[str, tuple[str, CatalogItem]] = {}
        self.nodes: dict[str, CatalogItem] = {}  # regions, business groups, virtual organisations
        self.positions: dict[str, Position] = {}

    def device_of(self, channel_id: str) -> GbDevice | None:
        owner = self.channels.get(channel_id)
        return self.devices.get(owner[0] if owner else channel_id)

    def set_catalog(self, device_id: str, items: list[CatalogItem]) -> tuple[int, int]:
        """Replace the device's channels with *items*; (channels, tree nodes)."""
        stale = [cid for cid, (dev, _) in self.channels.items() if dev == device_id]
        for cid in stale:
            del self.channels[cid]
        n_ch = n_nodes = 0
        for item in items:
            if is_video_channel(item):
                self.channels[item.device_id] = (device_id, item)
                n_ch += 1
            else:
                self.nodes[item.device_id] = item
                n_nodes += 1
        return n_ch, n_nodes

    def overdue(self, now: float, keepalive_interval_s: float, missed: int = 3) -> list[GbDevice]:
        """Online devices silent for more than ``missed`` keepalive intervals or whose registration expired."""
        out = []
        for dev in self.devices.values():
            if not dev.online:
                continue
            if now - dev.last_seen > missed * keepalive_interval_s:
                dev.offline_reason = f"{missed} 次心跳未收到（{missed * keepalive_interval_s:.0f} 秒）"
                out.append(dev)
            elif dev.expires_at and now > dev.expires_at:
                dev.offline_reason = "注册已过期"
                out.append(dev)
        return out
