"""The camera registry as the web sees it: scoped lookups and credential-free dicts.

The registry file is re-read when it changes on disk; a broken edit keeps the last
good registry (devices reports the problems) so the API keeps answering.
"""

from __future__ import annotations

import logging
import threading
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
    _registry: Any = None
    _mtime: float | None = None
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def registry(self) -> Any:
        """The current registry (reloaded if the file changed), or None if it never loaded."""
        try:
            mtime = self.path.stat().st_mtime
        except OSError as exc:
            self.error = f"{self.path}: {exc.strerror}"
            return self._registry
        if mtime != self._mtime:
            with self._lock:
                if mtime != self._mtime:
                    self._reload(mtime)
        return self._registry

    def _reload(self, mtime: float) -> None:
        from devices import RegistryError, load_registry

        try:
            self._registry = load_registry(self.path)
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


def load_cameras(path: Path) -> CameraDirectory:
    directory = CameraDirectory(Path(path))
    directory.registry()
    return directory
