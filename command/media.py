"""Where snapshots and report photos live on disk (under ``Settings.media_dir``).

The database stores paths relative to the media directory so the directory can move.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from command.models import Incident


def _safe(name: str) -> str:
    if name.isascii() and name.isalnum():  # the common case (uuid hex alert ids): nothing to strip
        return name[:96]
    cleaned = "".join(c for c in name if c.isalnum() or c in "-_")
    if not cleaned:
        raise ValueError(f"cannot build a file name from {name!r}")
    return cleaned[:96]


def snapshot_relpath(alert_id: str, ts: datetime, jpeg: bytes) -> str | None:
    """Where :func:`store_snapshots` puts this alert's JPEG (known before the write; the name depends
    only on the alert, so a redelivered alert rewrites the same file)."""
    if not jpeg:
        return None
    return f"snapshots/{ts.strftime('%Y%m%d')}/{_safe(alert_id)}.jpg"


def store_snapshots(media_dir: Path, snapshots: Iterable[tuple[str, bytes]]) -> None:
    """Write a batch of ``(relative path, jpeg)``, creating each directory once.

    Runs in the caller's thread on purpose: a pool of writer threads spends most of its
    time waiting for the GIL behind the CPU-bound intake (every syscall releases and
    re-acquires it), which cost more than the writes themselves (see docs/command.md).
    No fsync: like the database (``synchronous=NORMAL``) a process crash loses nothing,
    and an OS crash can lose only what the last seconds wrote.
    """
    made: set[str] = set()
    for relative, data in snapshots:
        directory, _, _name = relative.rpartition("/")
        if directory not in made:
            (media_dir / directory).mkdir(parents=True, exist_ok=True)
            made.add(directory)
        _write_new_snapshot(os.path.join(media_dir, relative), data)


def store_photo(media_dir: Path, data: bytes, suffix: str = ".jpg") -> str:
    """Store one evidence photo under a fresh random name, created with O_EXCL: a photo is never
    overwritten, whoever uploads what (names derived from user-given refs could collide)."""
    day = datetime.now().strftime("%Y%m%d")
    (media_dir / "reports" / day).mkdir(parents=True, exist_ok=True)
    while True:
        relative = f"reports/{day}/{uuid.uuid4().hex}{suffix}"
        try:
            _write_new_file(os.path.join(media_dir, relative), data, os.O_EXCL)
        except FileExistsError:  # practically impossible with 122 random bits; never overwrite anyway
            continue
        return relative


def _write_file_atomic(path: str, data: bytes) -> None:
    # Unique per writer: two processes or threads may write the same alert at once (a
    # redelivery racing a slow first delivery); each renames its own complete file.
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    _write_new_file(tmp, data, os.O_TRUNC)
    os.replace(tmp, path)


def _write_new_snapshot(path: str, data: bytes) -> None:
    """Create ``path`` with ``data``; rewrite it atomically if it already exists.

    Written straight to its name, without a temporary file and a rename (one syscall
    fewer per alert): no reader can find a new snapshot before the transaction that
    records it commits, which happens after this returns. A file that exists already
    (a redelivered alert, or one a crash left half-written) may be read at any time,
    so it is replaced atomically.
    """
    try:
        _write_new_file(path, data, os.O_EXCL)
    except FileExistsError:
        _write_file_atomic(path, data)


def _write_new_file(path: str, data: bytes, flag: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flag, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def resolve_media_path(media_dir: Path, relative: str | None) -> Path | None:
    """The absolute file for a stored relative path, refusing anything that escapes ``media_dir``."""
    if not relative:
        return None
    root = media_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"media path {relative!r} escapes the media directory")
    return path


def snapshot_path(incident: Incident, media_dir: Path | None = None) -> Path | None:
    """The snapshot JPEG of ``incident`` on disk, or None when it has none or the file is gone.

    ``media_dir`` defaults to ``Settings().media_dir``.
    """
    if media_dir is None:
        from xueliang.settings import Settings

        media_dir = Settings().media_dir
    path = resolve_media_path(media_dir, incident.snapshot_path)
    return path if path is not None and path.is_file() else None


# --- evidence clips: written by analytics when an alarm window closes, named in the window's first alert ---
ClipState = Literal["ready", "recording", "missing"]
CLIP_RECORDING_S = 180.0  # longest a window's clip can take to appear (window ≤ 30 s + 15 s tail, plus margin)


def clip_failure_marker(clip: Path) -> Path:
    """The file that says why ``clip`` was not written (``<clip>.failed``)."""
    return clip.with_name(clip.name + ".failed")


def mark_clip_failed(clip: Path, reason: str) -> None:
    """Record that ``clip`` will never exist, with the reason (the desk shows 录像缺失 instead of waiting)."""
    clip.parent.mkdir(parents=True, exist_ok=True)
    _write_file_atomic(str(clip_failure_marker(clip)), reason.encode("utf-8", "replace")[:2000])


def clip_state(clip: Path | None, alert_at: datetime | None, now: datetime,
               recording_s: float = CLIP_RECORDING_S) -> tuple[ClipState, str | None]:
    """Whether an alert's clip can be played, is still being recorded, or is missing (and why)."""
    if clip is None:
        return "missing", "no clip was named for this alert"
    if clip.is_file():
        return "ready", None
    marker = clip_failure_marker(clip)
    if marker.is_file():
        return "missing", marker.read_text(encoding="utf-8", errors="replace")
    if alert_at is not None and alert_at.tzinfo is None:
        alert_at = alert_at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    if alert_at is not None and (now - alert_at).total_seconds() <= recording_s:
        return "recording", None
    return "missing", "the clip did not appear (the analytics worker stopped before writing it)"
