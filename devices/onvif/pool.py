"""Reuse one connected :class:`OnvifCamera` per registry camera across requests.

A PTZ joystick sends a command every few hundred milliseconds; a fresh client would
repeat the clock sync and service discovery (three or four SOAP round trips) before
each move. The pool keeps the client while it is used and forgets it after
``idle_s`` without use, when the camera's endpoint or credentials change in the
registry, or when a call failed in a way that may mean the device rebooted.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from devices.onvif.client import OnvifCamera
from devices.onvif.errors import OnvifNotSupported

if TYPE_CHECKING:
    from devices.registry.schema import Camera

T = TypeVar("T")


@dataclass
class _Entry:
    fingerprint: str
    client: OnvifCamera
    last_used: float


class OnvifClientPool:
    """Thread-safe; ``call(camera, fn)`` runs ``fn(client)`` with a reused client."""

    def __init__(self, *, idle_s: float = 300.0, timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self.timeout = timeout
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.created = 0  # clients built so far (observability and tests)

    def call(self, camera: Camera, fn: Callable[[OnvifCamera], T]) -> T:
        """Run ``fn`` on the camera's client; a failure other than "not supported" drops the client."""
        client = self.client(camera)
        try:
            return fn(client)
        except OnvifNotSupported:
            raise  # the device answered: the session is fine
        except Exception:
            self.discard(camera.id, client)
            raise

    def client(self, camera: Camera) -> OnvifCamera:
        """The pooled client of a registry ``devices.Camera`` (credentials resolved now; raises SecretError if unset)."""
        if camera.onvif is None:
            raise ValueError(f"camera {camera.id!r} has no onvif section")
        url = camera.onvif.url
        username, password = camera.onvif_credentials()
        fingerprint = _fingerprint(url, username, password)
        now = self._clock()
        stale: list[OnvifCamera] = []
        with self._lock:
            for camera_id, idle in list(self._entries.items()):
                if now - idle.last_used > self.idle_s:
                    stale.append(self._entries.pop(camera_id).client)
            entry = self._entries.get(camera.id)
            if entry is not None and entry.fingerprint != fingerprint:
                stale.append(self._entries.pop(camera.id).client)
                entry = None
            if entry is None:
                client = OnvifCamera(url, username, password, timeout=self.timeout, name=camera.id)
                entry = self._entries[camera.id] = _Entry(fingerprint, client, now)
                self.created += 1
            entry.last_used = now
        for old in stale:
            old.close()
        return entry.client

    def discard(self, camera_id: str, client: OnvifCamera | None = None) -> None:
        """Forget the camera's client (only if it is still ``client``, when given)."""
        with self._lock:
            entry = self._entries.get(camera_id)
            if entry is None or (client is not None and entry.client is not client):
                return
            del self._entries[camera_id]
        entry.client.close()

    def close(self) -> None:
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.client.close()

    def __len__(self) -> int:
        return len(self._entries)


def _fingerprint(url: str, username: str | None, password: str | None) -> str:
    # Compare credentials without keeping a second copy of the password around.
    return hashlib.sha256(f"{url}\0{username or ''}\0{password or ''}".encode()).hexdigest()
