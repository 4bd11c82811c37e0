"""Where snapshots and report photos live on disk (under ``Settings.media_dir``).

The database stores paths relative to the media directory so the directory can move.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

from command.models import Incident


def _safe(name: str) -> str:
    cleaned = "".join(c for c in name if c.isalnum() or c in "-_")
    if not cleaned:
        raise ValueError(f"cannot build a file name from {name!r}")
    return cleaned[:96]


def store_snapshot(media_dir: Path, alert_id: str, ts: datetime, jpeg: bytes) -> str | None:
    """Write an alert's JPEG atomically; return its path relative to ``media_dir`` (None if empty).

    The name depends only on the alert, so a redelivered alert rewrites the same file.
    """
    relative = snapshot_relpath(alert_id, ts, jpeg)
    if relative is not None:
        _write_atomic(media_dir / relative, jpeg)
    return relative


def snapshot_relpath(alert_id: str, ts: datetime, jpeg: bytes) -> str | None:
    """Where :func:`store_snapshot` puts this alert's JPEG (known before the write)."""
    if not jpeg:
        return None
    return (Path("snapshots") / ts.strftime("%Y%m%d") / f"{_safe(alert_id)}.jpg").as_posix()


def store_photo(media_dir: Path, ref: str, index: int, data: bytes, suffix: str = ".jpg") -> str:
    relative = Path("reports") / _safe(ref) / f"{index:02d}{suffix}"
    _write_atomic(media_dir / relative, data)
    return relative.as_posix()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per write: the same alert may be written twice at once (redelivered in one batch).
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
