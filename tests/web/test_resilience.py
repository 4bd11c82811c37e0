"""Redis restarts under a running web process: health says so, and pushes resume by themselves."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import redis
import websockets

from command import publish_event
from tests.web.conftest import SECRET, ServerThread, seeded_database
from xueliang.runtime import EmbeddedRedis, free_port
from xueliang.settings import Settings
from pathlib import Path


def test_pushes_resume_after_redis_restarts(tmp_path: Path) -> None:
    from web import create_app

    port = free_port()
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text((Path(__file__).parent / "cameras.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    redis_server = EmbeddedRedis(tmp_path / "redis", port=port, persist=False).start()
    settings = Settings(data_dir=tmp_path, cameras_file=cameras, database_url=f"sqlite:///{tmp_path / 'web.db'}",
                        redis_url=redis_server.url, secret_key=SECRET, web_port=free_port())
    database = seeded_database(settings.resolved_database_url())
    server = ServerThread(create_app(settings), settings.web_port)
    server.start()
    base = f"http://127.0.0.1:{settings.web_port}"
    try:
        token = httpx.post(base + "/api/auth/login", json={"username": "op_a", "password": "web-test-Passw0rd"}).json()["access_token"]

        async def scenario() -> dict:
            async with websockets.connect(f"ws://127.0.0.1:{settings.web_port}/api/ws?token={token}") as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                client = redis.Redis.from_url(redis_server.url)
                publish_event(client, "incident.created", "330381101201", {"id": 1})
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["payload"]["id"] == 1
                client.close()
                redis_server.stop()
                await asyncio.sleep(1.0)
                async with httpx.AsyncClient() as http:
                    down = (await http.get(base + "/api/health")).json()
                redis_server.start()
                started = time.monotonic()
                client = redis.Redis.from_url(redis_server.url)
                publish_event(client, "incident.created", "330381101201", {"id": 2})
                got = json.loads(await asyncio.wait_for(ws.recv(), 20))
                client.close()
                return {"down": down, "got": got, "resumed_after_s": time.monotonic() - started}

        result = asyncio.run(scenario())
        assert result["down"]["redis"] is False and result["down"]["status"] == "degraded"
        assert result["got"]["payload"]["id"] == 2  # the same socket keeps working: no reconnect needed
        assert httpx.get(base + "/api/health").json()["redis"] is True
    finally:
        server.stop()
        redis_server.stop()
        database.dispose()
