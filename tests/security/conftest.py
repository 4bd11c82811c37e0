"""The web process as an attacker meets it: ``xueliang web run`` in its own process on a free
loopback port (its real logging setup, its own event loop and threadpool), over a seeded SQLite
database and a Redis database of its own. Townships A = 330381101, B = 330381102.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

# command's seeded-database fixtures (SQLite and PostgreSQL) for the import tests
from tests.command.conftest import _seeded_sqlite_template, database_url, seeded  # noqa: F401
from tests.web.conftest import PASSWORD, TOWNSHIP_A, TOWNSHIP_B, seeded_database
from xueliang.runtime import free_port, spawn, stop
from xueliang.settings import Settings

SECRET = "security-test-secret-0123456789abcdef"
REDIS_DB = 6  # a database number of its own on the session Redis: login counters are not shared


@dataclass
class WebProcess:
    url: str
    settings: Settings
    database: object
    redis_url: str
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def client(self, username: str | None = None, *, local_address: str | None = None) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        client = httpx.Client(base_url=self.url, timeout=30, transport=transport)
        if username:
            client.headers["Authorization"] = f"Bearer {self.token(username)}"
        return client

    def token(self, username: str, password: str = PASSWORD) -> str:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            r = http.post("/api/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            return r.json()["access_token"]

    def responder_id(self, username: str) -> int:
        from command import get_user

        with self.database.session() as session:
            return get_user(session, username).responder_id

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def reset_login_counters(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            for key in client.scan_iter("xl:login-attempts:*"):
                client.delete(key)
        finally:
            client.close()


@pytest.fixture(scope="session")
def web_process(tmp_path_factory: pytest.TempPathFactory, redis_server) -> Iterator[WebProcess]:
    import redis

    data_dir = tmp_path_factory.mktemp("security-web")
    cameras_file = data_dir / "cameras.yaml"
    cameras_file.write_text((Path(__file__).parents[1] / "web" / "cameras.yaml").read_text(encoding="utf-8"),
                            encoding="utf-8")
    redis_url = redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    port = free_port()
    settings = Settings(data_dir=data_dir, cameras_file=cameras_file, database_url=f"sqlite:///{data_dir / 'web.db'}",
                        redis_url=redis_url, secret_key=SECRET, web_port=port)
    database = seeded_database(settings.resolved_database_url())
    log_path = data_dir / "web.log"
    proc = spawn([sys.executable, "-m", "xueliang.cli", "web", "run", "--port", str(port)], env={
        "DATABASE_URL": settings.resolved_database_url(), "REDIS_URL": redis_url, "XUELIANG_SECRET_KEY": SECRET,
        "XUELIANG_DATA_DIR": str(data_dir), "XUELIANG_CAMERAS_FILE": str(cameras_file),
    }, log_path=log_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"xueliang web run exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("xueliang web run did not answer /api/health within 60 s")
        time.sleep(0.2)
    try:
        yield WebProcess(url, settings, database, redis_url, log_path)
    finally:
        stop(proc, timeout=10)
        database.dispose()


def report(http: httpx.Client, *, township: str, address: str, ref: str | None = None, category: str = "road_damage",
           title: str = "路面塌陷") -> dict:
    """File a 12345 work order through the API; returns the answer's JSON (asserts 200)."""
    body = {"source": "hotline_12345", "title": title, "jurisdiction_code": f"{township}201",
            "address": address, "category_code": category}
    if ref:
        body["ref"] = ref
    r = http.post("/api/intake/reports", json=body)
    assert r.status_code == 200, r.text
    return r.json()


__all__ = ["PASSWORD", "SECRET", "TOWNSHIP_A", "TOWNSHIP_B", "WebProcess", "report"]
