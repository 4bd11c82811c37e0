"""Hot reload: watch ``cameras.yaml``, swap in a new registry atomically, say what changed.

A bad edit never replaces the running registry: the error is reported (with file,
line, field) and the previous registry stays in force. Consumers get a
:class:`RegistryDiff` so ingest restarts only the channels whose stream or
scheduling changed, and analytics reloads rules without touching the readers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devices.registry.errors import RegistryError
from devices.registry.index import Registry
from devices.registry.loader import load_registry, parse_registry
from devices.registry.schema import Camera
from devices.registry.sources import RegistrySource, combine, versions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryDiff:
    """Channel ids added, removed and changed between two registries."""

    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()
    changed: frozenset[str] = frozenset()
    # Subset of `changed` whose reader must restart (stream URL, kind, mode, fps, enabled);
    # the rest changed only rules/zones/names/tags.
    restart_ingest: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def config_only(self) -> frozenset[str]:
        return self.changed - self.restart_ingest

    def as_dict(self) -> dict[str, list[str]]:
        return {k: sorted(getattr(self, k)) for k in ("added", "removed", "changed", "restart_ingest")}


def _ingest_key(cam: Camera) -> tuple[object, ...]:
    return (cam.streams, cam.kind, cam.enabled, cam.analysis.mode, cam.analysis.fps)


def diff_registries(old: Registry, new: Registry) -> RegistryDiff:
    old_ids, new_ids = set(old.cameras), set(new.cameras)
    changed: set[str] = set()
    restart: set[str] = set()
    for cid in old_ids & new_ids:
        a, b = old.cameras[cid], new.cameras[cid]
        if a is b or a == b:
            continue
        changed.add(cid)
        if _ingest_key(a) != _ingest_key(b):
            restart.add(cid)
    return RegistryDiff(frozenset(new_ids - old_ids), frozenset(old_ids - new_ids), frozenset(changed), frozenset(restart))


OnChange = Callable[[Registry, RegistryDiff], None]
OnError = Callable[[RegistryError], None]


@dataclass
class _Seen:
    stat: tuple[int, int, int] | None = None
    digest: str = ""
    rejected_digest: str = ""


class RegistryWatcher:
    """Polls the registry file and swaps a validated new :class:`Registry` in when it changes.

    ``watcher.current`` is always a complete, valid registry (reading an attribute is
    atomic). Use :meth:`check` to poll synchronously, or :meth:`start` / the context
    manager for a background thread that polls every ``interval_s``.
    """

    def __init__(self, path: str | Path, *, interval_s: float = 1.0, on_change: OnChange | None = None,
                 on_error: OnError | None = None, initial: Registry | None = None,
                 sources: Sequence[RegistrySource] = ()) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._on_change = on_change
        self._on_error = on_error
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen = _Seen()
        self.last_error: RegistryError | None = None
        self._base = initial if initial is not None else load_registry(self.path)
        self._sources = tuple(sources)  # channels from outside the file (GB/T 28181 catalogs)
        self._source_versions = versions(self._sources)
        self._current = combine(self._base, self._sources)
        self._seen.stat = self._stat()
        self._seen.digest = self._base.digest

    @property
    def current(self) -> Registry:
        return self._current

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def check(self) -> RegistryDiff | None:
        """Reload if the file or a source changed. Returns the diff when a new registry was swapped in, else None."""
        with self._lock:
            sv = versions(self._sources) if self._sources else ()
            sources_changed, self._source_versions = sv != self._source_versions, sv
            base = self._read_file()
            if base is None and not sources_changed:
                return None
            if base is not None:
                self._base = base
            new = combine(self._base, self._sources)
            diff = diff_registries(self._current, new)
            self._current = new
        return self._changed(new, diff)

    def _read_file(self) -> Registry | None:
        """The file's registry if it changed and is valid, else None (problems reported once)."""
        stat = self._stat()
        if stat == self._seen.stat:
            return None
        self._seen.stat = stat
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            # Mid-rename or deleted: keep running on what we have, say so once.
            self._reject(RegistryError.single(str(self.path), "(file)", f"cannot read: {exc.strerror or exc}"), "")
            return None
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._seen.digest:
            return None  # touched, same content
        if digest == self._seen.rejected_digest:
            return None  # already reported
        try:
            base = parse_registry(raw, source=self.path, previous=self._base)
        except RegistryError as exc:
            self._reject(exc, digest)
            return None
        self._seen.digest = digest
        self._seen.rejected_digest = ""
        self.last_error = None
        return base

    def _changed(self, new: Registry, diff: RegistryDiff) -> RegistryDiff:
        log.info("camera registry reloaded from %s: %d added, %d removed, %d changed (%d need an ingest restart)",
                 self.path, len(diff.added), len(diff.removed), len(diff.changed), len(diff.restart_ingest))
        if self._on_change is not None:
            try:
                self._on_change(new, diff)
            except Exception:  # a consumer's bug must not stop the watcher
                log.exception("registry on_change callback failed")
        return diff

    def _reject(self, exc: RegistryError, digest: str) -> None:
        self.last_error = exc
        self._seen.rejected_digest = digest
        log.error("camera registry edit rejected, still running the previous registry (%d channels):\n%s",
                  len(self._current), "\n".join(exc.problems))
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                log.exception("registry on_error callback failed")

    # -- background thread ------------------------------------------------------------------
    def start(self) -> RegistryWatcher:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"registry-watch:{self.path.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # never let the watcher die silently
                log.exception("registry watcher check failed")

    def __enter__(self) -> RegistryWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
