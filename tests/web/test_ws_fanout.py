"""Push fan-out measured: one event on xl:events to many WebSocket clients of different scopes.

Run: .venv/bin/python -m pytest tests/web/test_ws_fanout.py -m slow -s
Prints one JSON line with the clients, events and the publish → receive latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import pytest
import redis
import websockets

from command import publish_event
from tests.web.conftest import TOWNSHIP_A, TOWNSHIP_B

CLIENTS = 200
EVENTS = 50


@pytest.mark.slow
def test_fanout_latency_to_many_clients(web_server) -> None:
    tokens = {"op_a": web_server.token("op_a"), "op_b": web_server.token("op_b")}
    r = redis.Redis.from_url(web_server.redis_url)

    async def scenario() -> dict:
        url = f"{web_server.ws_url}/api/ws?token="
        sockets = []
        for i in range(CLIENTS):
            user = "op_a" if i % 2 == 0 else "op_b"
            ws = await websockets.connect(url + tokens[user], max_queue=None)
            assert json.loads(await ws.recv())["type"] == "hello"
            sockets.append((user, ws))
        latencies: list[float] = []
        wrong = 0

        async def drain(user: str, ws) -> None:
            nonlocal wrong
            for _ in range(EVENTS):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 30))
                latencies.append(time.time() - msg["payload"]["sent"])
                wrong += not msg["jurisdiction_code"].startswith(TOWNSHIP_A if user == "op_a" else TOWNSHIP_B)

        readers = [asyncio.create_task(drain(u, ws)) for u, ws in sockets]
        for n in range(EVENTS):
            for code in (f"{TOWNSHIP_A}201", f"{TOWNSHIP_B}201"):
                publish_event(r, "incident.updated", code, {"id": n, "sent": time.time()})
            await asyncio.sleep(0.02)
        await asyncio.gather(*readers)
        for _, ws in sockets:
            await ws.close()
        latencies.sort()
        return {"clients": CLIENTS, "events_per_client": EVENTS, "deliveries": len(latencies), "misrouted": wrong,
                "p50_ms": round(statistics.median(latencies) * 1000, 1),
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1)}

    result = asyncio.run(scenario())
    r.close()
    print(json.dumps(result))
    assert result["deliveries"] == CLIENTS * EVENTS and result["misrouted"] == 0
