"""Channels that come from somewhere other than ``cameras.yaml`` (GB/T 28181 catalogs, …).

A source gives cameras and a cheap ``version()`` that changes when they do; the
:class:`~devices.registry.reload.RegistryWatcher` polls it beside the file and
indexes both in one :class:`Registry`. The file wins on an id present in both.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from typing import Protocol

from devices.registry.index import Registry
from devices.registry.loader import gc_paused
from devices.registry.schema import Camera

log = logging.getLogger(__name__)


class RegistrySource(Protocol):
    name: str

    def version(self) -> Hashable: ...

    def cameras(self) -> list[Camera]: ...


def combine(base: Registry, sources: Sequence[RegistrySource]) -> Registry:
    """One registry with the file's channels then each source's (file wins on duplicate ids)."""
    if not sources:
        return base
    with gc_paused():
        return _combine(base, sources)


def _combine(base: Registry, sources: Sequence[RegistrySource]) -> Registry:
    cams = dict(base.cameras)
    for src in sources:
        try:
            extra = src.cameras()
        except Exception:
            log.exception("registry source %s failed; its channels are left out until it recovers", src.name)
            continue
        dup = 0
        for cam in extra:
            if cam.id in cams:
                dup += 1
                continue
            cams[cam.id] = cam
        if dup:
            log.warning("registry source %s: %d channel id(s) already in %s kept from the file", src.name, dup, base.source)
    combined = Registry(cams.values(), source=base.source, digest=base.digest)
    combined._item_cache = base._item_cache  # noqa: SLF001 - same file, same cache
    return combined


def versions(sources: Sequence[RegistrySource]) -> tuple[Hashable, ...]:
    out = []
    for src in sources:
        try:
            out.append(src.version())
        except Exception as exc:  # a database hiccup must not stop the watcher
            log.warning("registry source %s: version check failed: %s", src.name, exc)
            out.append(None)
    return tuple(out)
