"""An immutable, indexed view of the registry for fast queries at county scale.

The query columns are built on the first query (tens of ms for 30,000 channels; a
registry that is only combined with other sources into a bigger one never builds
them) and never mutated: hot reload swaps a whole new ``Registry`` in, so readers
never see a half-updated index.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypedDict, overload
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from devices.registry.schema import AnalysisMode, Camera, CameraKind

EARTH_RADIUS_M = 6_371_008.8
_KINDS = list(CameraKind)
_MODES = list(AnalysisMode)
_KIND_NO = {k: i for i, k in enumerate(_KINDS)}
_MODE_NO = {m: i for i, m in enumerate(_MODES)}
_EMPTY = np.empty(0, dtype=np.int64)


def haversine_m(lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: float, lon2: float) -> np.ndarray | float:
    """Great-circle distance in metres (vectorised over the first pair)."""
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))



class RegistrySummary(TypedDict):
    """What ``cameras validate`` prints: counts by kind, analysis mode and jurisdiction."""

    channels: int
    by_kind: dict[str, int]
    by_mode: dict[str, int]
    by_jurisdiction: dict[str, int]
    rules: int
    zones: int
    with_onvif: int
    secrets_needed: list[str]

class CameraSet(Sequence[Camera]):
    """A query result: a lazy, ordered view over the registry's channels.

    Building a 30,000-element Python list costs more than the query itself, so
    results stay an index array until iterated or sliced (APIs paginate anyway).
    """

    __slots__ = ("_geo", "_idx")

    def __init__(self, geo: list[Camera], idx: np.ndarray) -> None:
        self._geo = geo
        self._idx = idx

    def __len__(self) -> int:
        return len(self._idx)

    @overload
    def __getitem__(self, i: int) -> Camera: ...
    @overload
    def __getitem__(self, i: slice) -> list[Camera]: ...
    def __getitem__(self, i: int | slice) -> Camera | list[Camera]:
        if isinstance(i, slice):
            return [self._geo[j] for j in self._idx[i].tolist()]
        return self._geo[int(self._idx[i])]

    def __iter__(self) -> Iterator[Camera]:
        geo = self._geo
        return (geo[j] for j in self._idx.tolist())

    def __repr__(self) -> str:
        return f"<CameraSet {len(self)} channels>"

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self]


@dataclass(frozen=True)
class _Index:
    """Columns of one registry for the queries: jurisdiction order, tag postings, kind/mode codes, coordinates."""

    code_order: np.ndarray
    codes: list[str]
    tag_idx: dict[str, np.ndarray]
    kind: np.ndarray
    mode: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def build(cls, geo: list[Camera]) -> _Index:
        n = len(geo)
        # One pass collecting the columns; the sorting and masking is then numpy's job.
        codes: list[str] = []
        ids: list[str] = []
        lats: list[float] = []
        lons: list[float] = []
        kinds = np.empty(n, dtype=np.int8)
        modes = np.empty(n, dtype=np.int8)
        tag_lists: dict[str, list[int]] = {}
        kind_no, mode_no = _KIND_NO, _MODE_NO
        for i, cam in enumerate(geo):
            codes.append(cam.jurisdiction)
            ids.append(cam.id)
            pos = cam.position
            lats.append(pos.lat)
            lons.append(pos.lon)
            kinds[i] = kind_no[cam.kind]
            modes[i] = mode_no[cam.analysis.mode]
            for tag in cam.tags:
                bucket = tag_lists.setdefault(tag, [])
                if not bucket or bucket[-1] != i:
                    bucket.append(i)
        order = np.lexsort((np.array(ids, dtype=str), np.array(codes, dtype=str))) if n else np.empty(0, dtype=np.int64)
        return cls(code_order=order.astype(np.int64), codes=[codes[i] for i in order.tolist()],
                   tag_idx={t: np.asarray(v, dtype=np.int64) for t, v in tag_lists.items()}, kind=kinds, mode=modes,
                   lat=np.asarray(lats, dtype=np.float64), lon=np.asarray(lons, dtype=np.float64))


class Registry:
    """All channels of one registry file with indices by jurisdiction, tag, kind and position."""

    def __init__(self, cameras: Iterable[Camera], *, source: Path | None = None, digest: str = "") -> None:
        self.cameras: dict[str, Camera] = {c.id: c for c in cameras}
        self.source = source
        self.digest = digest
        self.loaded_at = datetime.now(UTC)
        self._item_cache: dict[bytes, Camera] = {}  # filled by the loader: channel text digest -> Camera
        self._geo = list(self.cameras.values())
        self._ix: _Index | None = None  # built on the first query (a registry only combined into another never pays)
        self._ix_lock = threading.Lock()

    @property
    def index(self) -> _Index:
        """The query columns; built once, on first use (thread-safe)."""
        ix = self._ix
        if ix is None:
            with self._ix_lock:
                ix = self._ix
                if ix is None:
                    ix = self._ix = _Index.build(self._geo)
        return ix

    # -- mapping-like ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[Camera]:
        return iter(self.cameras.values())

    def __contains__(self, camera_id: object) -> bool:
        return camera_id in self.cameras

    def get(self, camera_id: str) -> Camera | None:
        return self.cameras.get(camera_id)

    def __getitem__(self, camera_id: str) -> Camera:
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise KeyError(f"no camera {camera_id!r} in the registry ({self.source or 'in memory'})") from None

    # -- queries -----------------------------------------------------------------------------
    def in_jurisdiction(self, code: str) -> CameraSet:
        """Channels whose jurisdiction is *code* or below it (prefix = ancestor)."""
        return self.query(jurisdiction=code)

    def with_tag(self, tag: str) -> CameraSet:
        return self.query(tags=[tag])

    def of_kind(self, kind: CameraKind | str) -> CameraSet:
        return self.query(kind=kind)

    def in_box(self, south: float, west: float, north: float, east: float) -> CameraSet:
        """Channels inside a lat/lon box (inclusive)."""
        return self.query(box=(south, west, north, east))

    def within_radius(self, lat: float, lon: float, metres: float) -> list[tuple[Camera, float]]:
        """(camera, distance in metres) within *metres* of the point, nearest first."""
        if not len(self._geo):
            return []
        ix = self.index
        # Cheap bounding-box prefilter, then exact great-circle distance.
        dlat = math.degrees(metres / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        idx = np.flatnonzero((np.abs(ix.lat - lat) <= dlat) & (np.abs(ix.lon - lon) <= dlon))
        if not len(idx):
            return []
        dist = np.asarray(haversine_m(ix.lat[idx], ix.lon[idx], lat, lon))
        keep = dist <= metres
        pairs = sorted(zip(idx[keep].tolist(), dist[keep].tolist()), key=lambda p: p[1])
        return [(self._geo[i], d) for i, d in pairs]

    def query(self, *, jurisdiction: str | None = None, tags: Iterable[str] = (), kind: CameraKind | str | None = None,
              box: tuple[float, float, float, float] | None = None, mode: str | None = None) -> CameraSet:
        """Channels matching every given criterion (``tags``: all of them), ordered by jurisdiction then id.

        ``box`` is (south, west, north, east). Criteria are combined as boolean masks
        over the channel arrays: O(n) numpy work, no Python loop over channels.
        """
        ix = self.index
        order = ix.code_order
        if jurisdiction is not None:
            lo = bisect.bisect_left(ix.codes, jurisdiction)
            hi = bisect.bisect_left(ix.codes, jurisdiction + ":")  # ':' sorts right after '9'
            order = order[lo:hi]
        mask: np.ndarray | None = None

        def both(m: np.ndarray) -> None:
            nonlocal mask
            mask = m if mask is None else mask & m

        for tag in tags:
            both(self._select(ix.tag_idx.get(tag, _EMPTY)))
        if kind is not None:
            both(ix.kind == _KIND_NO[CameraKind(kind)])
        if mode is not None:
            both(ix.mode == _MODE_NO[AnalysisMode(mode)])
        if box is not None:
            south, west, north, east = box
            both((ix.lat >= south) & (ix.lat <= north) & (ix.lon >= west) & (ix.lon <= east))
        if mask is not None:
            order = order[mask[order]]  # stays in jurisdiction order, no sort needed
        return CameraSet(self._geo, order)

    def _select(self, indices: np.ndarray) -> np.ndarray:
        m = np.zeros(len(self._geo), dtype=bool)
        m[indices] = True
        return m

    def summary(self) -> RegistrySummary:
        """Counts by kind, analysis mode and jurisdiction (for ``cameras validate``)."""
        return {
            "channels": len(self),
            "by_kind": dict(Counter(c.kind.value for c in self).most_common()),
            "by_mode": dict(Counter(c.analysis.mode.value for c in self).most_common()),
            "by_jurisdiction": dict(sorted(Counter(c.jurisdiction for c in self).items())),
            "rules": sum(len(c.rules) for c in self),
            "zones": sum(len(c.zones) for c in self),
            "with_onvif": sum(1 for c in self if c.onvif is not None),
            "secrets_needed": sorted({ref for c in self for ref in c.secret_refs()}),
        }
