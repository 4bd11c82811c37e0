"""Make damaged copies of the Annex-B sample: flipped bytes inside slices, a truncated last frame."""

from __future__ import annotations

import random
from pathlib import Path


def access_units(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte ranges of the VCL NAL units (one per frame in the samples)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    units = []
    for n, s in enumerate(starts):
        end = (starts[n + 1] - 3) if n + 1 < len(starts) else len(data)
        if end > s and data[s] & 0x1F in (1, 5):  # coded slice (non-IDR / IDR)
            units.append((s, end))
    return units


def make_corrupt_h264(src: Path, dst: Path, frames: int = 60, damaged_every: int = 4, seed: int = 7) -> Path:
    """First ``frames`` frames of ``src``, every ``damaged_every``-th slice overwritten with noise
    after its header, and the last frame cut in half (the file loops, so it repeats)."""
    rng = random.Random(seed)
    data = bytearray(src.read_bytes())
    units = access_units(bytes(data))
    if len(units) <= frames:
        raise ValueError(f"{src} has only {len(units)} frames")
    for k, (s, e) in enumerate(units[:frames]):
        if k % damaged_every == 2 and e - s > 40:
            for j in range(s + 8, e, max(1, (e - s) // 30)):
                data[j] = rng.randrange(1, 255)
    last_s, last_e = units[frames - 1]
    dst.write_bytes(bytes(data[: last_s + (last_e - last_s) // 2]))
    return dst
