"""A local append-only file of alerts that could not reach Redis yet, replayed in order.

Each record is ``magic | u32 alert length | u32 snapshot length | alert JSON | JPEG``.
The read position is kept in ``<name>.offset`` (replaced atomically after each replayed
batch), so a worker killed during an outage or a replay resumes where it stopped: a
batch published but not yet recorded as replayed is published again, which the command
intake absorbs (idempotent by ``alert_id``). A record torn by a crash mid-write is cut
off when the spool is opened. Appends are flushed to the OS at once (a killed process
loses nothing) and fsynced at most once per ``fsync_interval_s`` (an OS crash can lose
that much, like Redis's ``appendfsync everysec``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAGIC = b"XLA1"
HEADER = struct.Struct("<4sII")


@dataclass(frozen=True)
class SpooledAlert:
    alert: bytes  # the alert as JSON
    jpeg: bytes
    end: int  # file offset just after this record


class SpoolInUse(RuntimeError):
    pass


class AlertSpool:
    """The spool ``<directory>/<name>.spool``; one process at a time (an exclusive lock file)."""

    def __init__(self, directory: Path, name: str = "alerts", fsync_interval_s: float = 1.0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.spool"
        self._offset_path = directory / f"{name}.offset"
        self._lock_file = open(directory / f"{name}.lock", "w")  # noqa: SIM115 (held for the spool's life)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpoolInUse(f"alert spool {self.path} is used by another process; give each analytics worker "
                             f"its own spool name") from None
        self._lock = threading.Lock()
        self._fsync_interval_s = fsync_interval_s
        self._last_fsync = 0.0
        self._file = open(self.path, "a+b")  # noqa: SIM115
        self._read = self._stored_offset()
        self._end, self._count = self._scan()

    # ---- opening ------------------------------------------------------------------------------

    def _stored_offset(self) -> int:
        try:
            offset = int(self._offset_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            log.error("unreadable %s; replaying the whole spool (the intake drops what it already has)", self._offset_path)
            return 0
        size = self.path.stat().st_size
        return offset if 0 <= offset <= size else 0

    def _scan(self) -> tuple[int, int]:
        """The end of the last complete record after the read position, and how many records lie before it."""
        size = os.fstat(self._file.fileno()).st_size
        position, count = self._read, 0
        while position + HEADER.size <= size:
            magic, alert_len, jpeg_len = HEADER.unpack(os.pread(self._file.fileno(), HEADER.size, position))
            end = position + HEADER.size + alert_len + jpeg_len
            if magic != MAGIC or end > size:
                break
            position, count = end, count + 1
        if position < size:
            log.warning("alert spool %s: cutting off %d bytes of a record torn by a crash", self.path, size - position)
            self._file.truncate(position)
        if count:
            log.info("alert spool %s holds %d alerts not yet published; replaying them", self.path, count)
        return position, count

    # ---- writing and replaying -----------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def append(self, alert: bytes, jpeg: bytes) -> None:
        record = HEADER.pack(MAGIC, len(alert), len(jpeg)) + alert + jpeg
        with self._lock:
            self._file.write(record)
            self._file.flush()
            now = time.monotonic()
            if now - self._last_fsync >= self._fsync_interval_s:
                os.fsync(self._file.fileno())
                self._last_fsync = now
            self._end += len(record)
            self._count += 1

    def read(self, limit: int) -> list[SpooledAlert]:
        """Up to ``limit`` records from the read position, oldest first (nothing is consumed until :meth:`commit`)."""
        with self._lock:
            position, end = self._read, self._end
        records: list[SpooledAlert] = []
        fd = self._file.fileno()
        while position < end and len(records) < limit:
            _, alert_len, jpeg_len = HEADER.unpack(os.pread(fd, HEADER.size, position))
            body = os.pread(fd, alert_len + jpeg_len, position + HEADER.size)
            position += HEADER.size + alert_len + jpeg_len
            records.append(SpooledAlert(body[:alert_len], body[alert_len:], position))
        return records

    def commit(self, replayed: list[SpooledAlert]) -> None:
        """Record ``replayed`` (a prefix of the last :meth:`read`) as published; an empty spool is truncated."""
        if not replayed:
            return
        with self._lock:
            self._read = replayed[-1].end
            self._count -= len(replayed)
            if self._read == self._end:
                # Truncate first: a crash before the offset is rewritten leaves an offset past the end,
                # which opening treats as 0 on an empty file.
                self._file.truncate(0)
                self._read = self._end = 0
            tmp = self._offset_path.with_suffix(".offset.tmp")
            tmp.write_text(str(self._read))
            os.replace(tmp, self._offset_path)

    def close(self) -> None:
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._lock_file.close()
