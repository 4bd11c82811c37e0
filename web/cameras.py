"""The camera registry as the web sees it: scoped lookups and credential-free dicts.

The registry file is re-read when it changes on disk; a broken edit keeps the last
good registry (devices reports the problems) so the API keeps answering.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("web.cameras")


def camera_view(camera: Any) -> dict[str, Any]:
    """What the API shows of a camera: no stream URLs, no ONVIF address or credentials."""
    data = camera.public_dict()
    streams = data.pop("streams", {}) or {}
    onvif = data.pop("onvif", None)
    data["has_sub_stream"] = bool(streams.get("sub"))
    data["onvif"] = bool(onvif)
    data["ptz"] = data.get("kind") == "ptz"
    return data


@dataclass
class CameraDirectory:
    path: Path
    sources: list[Any] = field(default_factory=list)  # channels from outside the file (GB/T 28181)
    _registry: Any = None
    _mtime: float | None = None
    _source_versions: tuple[Any, ...] = ()
    _sources_checked: float = 0.0
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def registry(self) -> Any:
        """The current registry (reloaded if the file changed), or None if it never loaded."""
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror}"
            return self._registry
        if self.sources and time.monotonic() - self._sources_checked >= 1.0:  # one cheap query a second at most
            from devices.registry.sources import versions

            self._sources_checked = time.monotonic()
            current = versions(self.sources)
            if current != self._source_versions:
                self._source_versions, self._mtime = current, None  # rebuild the combined index
        if mtime != self._mtime:
            with self._lock:
                if mtime != self._mtime:
                    self._reload(mtime)
        return self._registry

    def _reload(self, mtime: float) -> None:
        from devices import RegistryError, load_registry

        try:
            from devices.registry.sources import combine

            self._registry = combine(load_registry(self.path), self.sources)
            self.error = None
            log.info("camera registry %s: %d channels", self.path, len(self._registry.cameras))
        except RegistryError as exc:
            self.error = str(exc)
            log.error("camera registry %s rejected, keeping the previous one: %s", self.path, exc)
        self._mtime = mtime

    def in_scope(self, scope_code: str) -> list[Any]:
        reg = self.registry()
        if reg is None:
            return []
        if not scope_code:
            return sorted(reg.cameras.values(), key=lambda c: c.id)
        return list(reg.in_jurisdiction(scope_code))

    def get(self, camera_id: str) -> Any | None:
        reg = self.registry()
        return reg.cameras.get(camera_id) if reg is not None else None


def load_cameras(path: Path, database_url: str | None = None) -> CameraDirectory:
    sources: list[Any] = []
    if database_url:
        from devices.gb28181 import registry_sources  # GB channels when XUELIANG_GB28181_ENABLED=1

        sources = list(registry_sources(database_url))
    directory = CameraDirectory(Path(path), sources)
    directory.registry()
    return directory
