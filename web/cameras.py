"""The camera registry as the web sees it: scoped lookups and credential-free dicts.

The registry is followed by devices' one hot reloader (:class:`devices.RegistryWatcher`), polled at
most once a second when the web uses it: the file, and the GB/T 28181 channels beside it when
those are enabled. A broken edit keeps the last good registry (devices reports the problems, and
``error`` says what is wrong) so the API keeps answering; a file that was never valid gives an
empty directory until it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices import Camera, Registry, RegistryError, RegistryWatcher
from devices.gb28181 import registry_sources

if TYPE_CHECKING:
    from devices.registry.sources import RegistrySource

log = logging.getLogger("web.cameras")

CHECK_INTERVAL_S = 1.0  # the file's stat and the sources' versions: one cheap look a second at most


def camera_view(camera: Camera) -> dict[str, Any]:
    """What the API shows of a camera: no stream URLs, no ONVIF address or credentials."""
    data = camera.public_dict()
    streams = data.pop("streams", {}) or {}
    onvif = data.pop("onvif", None)
    data["has_sub_stream"] = bool(streams.get("sub"))
    data["onvif"] = bool(onvif)
    data["ptz"] = data.get("kind") == "ptz"
    return data


class CameraDirectory:
    def __init__(self, path: Path, sources: Sequence[RegistrySource] = ()) -> None:
        self.path = Path(path)
        self.sources = list(sources)  # channels from outside the file (GB/T 28181)
        self._watcher: RegistryWatcher | None = None
        self._load_error: str | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    @property
    def error(self) -> str | None:
        """Why the file is not (or no longer) what the directory serves, or None."""
        if self._watcher is None:
            return self._load_error
        return str(self._watcher.last_error) if self._watcher.last_error is not None else None

    def registry(self) -> Registry | None:
        """The current registry (reloaded if the file or a source changed), or None if it never loaded."""
        if time.monotonic() - self._checked >= CHECK_INTERVAL_S:
            with self._lock:
                if time.monotonic() - self._checked >= CHECK_INTERVAL_S:
                    self._refresh()
                    self._checked = time.monotonic()
        return self._watcher.current if self._watcher is not None else None

    def _refresh(self) -> None:
        if self._watcher is not None:
            self._watcher.check()
            return
        try:
            self._watcher = RegistryWatcher(self.path, sources=self.sources)
        except RegistryError as exc:
            if str(exc) != self._load_error:
                log.error("camera registry %s not loaded: %s", self.path, exc)
            self._load_error = str(exc)
            return
        self._load_error = None
        log.info("camera registry %s: %d channels", self.path, len(self._watcher.current.cameras))

    def in_scope(self, scope_code: str) -> list[Camera]:
        reg = self.registry()
        if reg is None:
            return []
        if not scope_code:
            return sorted(reg.cameras.values(), key=lambda c: c.id)
        return list(reg.in_jurisdiction(scope_code))

    def get(self, camera_id: str) -> Camera | None:
        reg = self.registry()
        return reg.cameras.get(camera_id) if reg is not None else None


def load_cameras(path: Path, database_url: str | None = None) -> CameraDirectory:
    sources: list[RegistrySource] = []
    if database_url:
        sources = list(registry_sources(database_url))  # GB/T 28181 channels when XUELIANG_GB28181_ENABLED=1
    directory = CameraDirectory(Path(path), sources)
    directory.registry()
    return directory
