"""``xueliang bench command [--json] [--quick] [--database-url URL --reset]``

1. Sustained intake: a producer publishes alerts at a fixed rate (default 1,000/s for 60 s,
   each from its own camera so every alert opens an incident: the heaviest path) to a real
   Valkey; a real ``xueliang command run`` process consumes them; a reader times each
   ``incident.created`` event on ``xl:events``. Latency = event seen − alert published.
   lost = alerts with no incident source; duplicated = alerts stored or announced twice.
2. Incident list: N stored incidents (default 1,000,000), pages of 200 filtered as
   ``GET /api/incidents`` filters them, through the same query and serialiser the API uses
   (command's ``list_incidents`` + ``incident_view``); p50/p95 per page.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from command.db import Database

JPEG_SIZE = 20_000


def _fake_jpeg() -> bytes:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    image = (rng.random((360, 480, 3)) * 255).astype("uint8")
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert ok
    return data.tobytes()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _reset(database: Database) -> None:
    from sqlalchemy import MetaData

    # every table of the bench's scratch database, including those other packages declare (GB/T 28181)
    with database.engine.begin() as connection:
        existing = MetaData()
        existing.reflect(connection)
        existing.drop_all(connection)


def bench_intake(database: Database, redis_url: str, media_dir: Path, rate: int, duration: float, log_path: Path) -> dict[str, Any]:
    import redis
    from sqlalchemy import func, select

    from command import AlertIn, publish_alert
    from command.models import Incident, IncidentSource
    from command.streams import ALERTS_STREAM, CONSUMER_GROUP, EVENTS_STREAM
    from xueliang.runtime import spawn, stop

    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(ALERTS_STREAM, CONSUMER_GROUP, id="0", mkstream=True)
    worker = spawn(
        [sys.executable, "-m", "xueliang.cli", "--log-level", "WARNING", "command", "run", "--database-url", database.url,
         "--redis-url", redis_url, "--consumer", "bench", "--media-dir", str(media_dir)],
        log_path=log_path,
    )
    arrivals: dict[str, float] = {}
    event_counts: dict[str, int] = {}
    done = threading.Event()

    def read_events() -> None:
        reader = redis.Redis.from_url(redis_url)
        last: bytes | str = "0"
        while not done.is_set():
            reply = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]],  # RESP2: [[stream, entries]]
                         reader.xread({EVENTS_STREAM: last}, count=1000, block=100) or [])
            for _, entries in reply:
                seen_at = time.time()
                for entry_id, fields in entries:
                    last = entry_id
                    event = json.loads(fields[b"event"])
                    if event["type"] == "incident.created":
                        camera = event["payload"]["camera_id"]
                        arrivals.setdefault(camera, seen_at)
                        event_counts[camera] = event_counts.get(camera, 0) + 1
        reader.close()

    reader_thread = threading.Thread(target=read_events, daemon=True)
    reader_thread.start()
    jpeg = _fake_jpeg()
    total = int(rate * duration)
    sent_at: dict[str, float] = {}
    refs: list[str] = []
    max_backlog = 0
    try:
        # The clock starts once the worker has joined the group (its first XREADGROUP), so
        # interpreter start-up on a busy machine is not counted as intake latency.
        ready_by = time.time() + 120
        while not any(c["name"] in (b"bench", "bench") for c in client.xinfo_consumers(ALERTS_STREAM, CONSUMER_GROUP)):
            if worker.poll() is not None:
                raise RuntimeError(f"command worker exited with {worker.returncode}; see {log_path}")
            if time.time() > ready_by:
                raise RuntimeError(f"command worker did not join the consumer group within 120 s; see {log_path}")
            time.sleep(0.1)
        start = time.time()
        sent = 0
        next_probe = start + 1
        while sent < total:
            now = time.time()
            due = min(total, int((now - start) * rate) + 1)
            if due > sent:
                pipe = client.pipeline(transaction=False)
                ts = datetime.now(UTC)
                for i in range(sent, due):
                    camera = f"bench{i:07d}"
                    alert = AlertIn(
                        alert_id=uuid.uuid4().hex, camera_id=camera, camera_name=camera,
                        jurisdiction_code=f"330381{101 + i % 13}{201 + i % 10}", lat=None, lon=None, rule_id="bench",
                        rule_kind="zone_intrusion", object_class="person", confidence=0.9, track_id=i, ts=ts,
                        boxes=[[10, 10, 100, 200]], frame_width=480, frame_height=360, dedup_key=camera,
                    )
                    publish_alert(pipe, alert, jpeg)
                    refs.append(alert.alert_id)
                pipe.execute()
                stamp = time.time()
                for i in range(sent, due):
                    sent_at[f"bench{i:07d}"] = stamp
                sent = due
            if now >= next_probe:
                next_probe += 1
                info = client.xinfo_groups(ALERTS_STREAM)[0]
                max_backlog = max(max_backlog, int(info.get("lag") or 0) + int(info["pending"]))
            time.sleep(0.005)
        produce_s = time.time() - start
        deadline = time.time() + max(120.0, 4 * duration)
        while time.time() < deadline and len(arrivals) < total:
            if worker.poll() is not None:
                raise RuntimeError(f"command worker exited with {worker.returncode}; see {log_path}")
            time.sleep(0.1)
        drained_s = time.time() - start
    finally:
        done.set()
        reader_thread.join(5)
        code = stop(worker, timeout=20)
        info = client.xinfo_groups(ALERTS_STREAM)[0]
        undrained = int(info.get("lag") or 0) + int(info["pending"])
        client.close()
    latencies = [(arrivals[c] - sent_at[c]) * 1000 for c in sent_at if c in arrivals]
    with database.session() as session:
        stored = session.scalar(select(func.count()).select_from(IncidentSource).where(IncidentSource.kind == "video")) or 0
        distinct = session.scalar(
            select(func.count(func.distinct(IncidentSource.ref))).where(IncidentSource.kind == "video")) or 0
        incidents = session.scalar(select(func.count()).select_from(Incident)) or 0
    return {
        "alerts_sent": total,
        "incidents_created": incidents,
        # Still queued when the wait ended (a slower worker would still process them):
        # reported apart from loss, which is what no restart can recover.
        "undrained": undrained,
        "lost": total - distinct - undrained,
        "duplicated": (stored - distinct) + sum(n - 1 for n in event_counts.values() if n > 1),
        "events_missing": total - len(arrivals),
        "rate_target": rate,
        "rate_achieved": round(total / produce_s, 1),
        "duration_s": round(produce_s, 1),
        "drained_s": round(drained_s, 1),
        "max_backlog": max_backlog,
        "p50_ms": round(_pct(latencies, 0.50) or 0, 1),
        "p99_ms": round(_pct(latencies, 0.99) or 0, 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "worker_exit_code": code,
    }


def fill_incidents(database: Database, rows: int, seed: int = 1) -> float:
    """Insert ``rows`` synthetic incidents with bulk INSERTs; returns seconds taken."""
    from sqlalchemy import insert, select

    from command.models import Category, Incident, Jurisdiction, scope_columns

    rng = random.Random(seed)
    with database.session() as session:
        places = list(session.scalars(select(Jurisdiction.code).where(Jurisdiction.level.in_(("village", "grid")))))
        categories = list(session.scalars(select(Category.code)))
    statuses = ["classified"] * 2 + ["dispatched", "acknowledged", "on_scene", "resolved", "evaluated", "closed", "closed", "false_alarm"]
    sources = ["video"] * 5 + ["hotline_12345", "hotline_12345", "grid", "citizen", "police_110"]
    colours = ["blue", "yellow", "orange", "red"]
    now = datetime.now(UTC)
    start = time.perf_counter()
    chunk = 20_000
    for offset in range(0, rows, chunk):
        batch: list[dict[str, Any]] = []
        for _ in range(min(chunk, rows - offset)):
            status = rng.choice(statuses)
            place = rng.choice(places)
            created = now - timedelta(seconds=rng.randrange(90 * 86400))
            batch.append({
                "title": "bench", "description": "", "category_code": rng.choice(categories), "source": rng.choice(sources),
                "status": status, "is_open": status not in ("closed", "false_alarm"), "severity": "normal",
                "colour": rng.choice(colours), "queue": "police", "jurisdiction_code": place, **scope_columns(place),
                "handling_level": "village", "escalation_count": 0, "mediation_level": 0, "boxes": [],
                "source_count": 1, "supervised": False, "overdue": rng.random() < 0.05, "created_at": created,
                "updated_at": created, "last_source_at": created, "camera_id": f"c{rng.randrange(5000)}",
            })
        with database.session() as session:
            session.execute(insert(Incident), batch)
    # Statistics as autovacuum/cron would have them in production; committed (begin), since
    # PostgreSQL discards an ANALYZE that is rolled back.
    with database.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE incidents" if database.engine.dialect.name == "postgresql" else "ANALYZE")
    return time.perf_counter() - start


def bench_list(database: Database, queries: int = 300, seed: int = 2) -> dict[str, Any]:
    """Time the incident list exactly as ``GET /api/incidents`` builds it (web.store.Store.list_incidents):
    command's ``list_incidents`` with the API's filters, then every row through the one serialiser
    (``incident_view``). Pages of 200 as the desk, the overview and the wall ask for them."""
    from sqlalchemy import select

    from command.incidents import IncidentFilter, list_incidents
    from command.models import Jurisdiction
    from command.views import NameCache, incident_view

    rng = random.Random(seed)
    with database.session() as session:
        townships = list(session.scalars(select(Jurisdiction.code).where(Jurisdiction.level == "township")))
        villages = list(session.scalars(select(Jurisdiction.code).where(Jurisdiction.level == "village")))
    shapes: list[Callable[[], IncidentFilter]] = [
        lambda: IncidentFilter(scope="330381"),  # the desk's and the overview's recent list
        lambda: IncidentFilter(scope="330381", open_only=True),  # the wall
        lambda: IncidentFilter(scope="330381", status="classified"),
        lambda: IncidentFilter(scope=rng.choice(townships), open_only=True),
        lambda: IncidentFilter(scope="330381", jurisdiction_code=rng.choice(townships)),
        lambda: IncidentFilter(scope=rng.choice(villages)),
        lambda: IncidentFilter(scope=rng.choice(villages), status="dispatched"),
        lambda: IncidentFilter(scope="330381", colour="red", open_only=True),
        lambda: IncidentFilter(scope="330381", camera_id=f"c{rng.randrange(5000)}"),
    ]
    timings: list[float] = []
    per_shape: dict[int, list[float]] = {}
    names = NameCache()
    with database.session() as session:
        for q in range(queries):
            index = q % len(shapes)
            flt = shapes[index]()
            t = time.perf_counter()
            page = [incident_view(session, i, names) for i in list_incidents(session, flt, limit=200)]
            if page and q % 2:  # the next page too
                [incident_view(session, i, names) for i in list_incidents(session, flt, limit=200, before_id=page[-1].id)]
            ms = (time.perf_counter() - t) * 1000
            timings.append(ms)
            per_shape.setdefault(index, []).append(ms)
            session.expunge_all()
    return {
        "list_queries": queries,
        "list_page_rows": 200,
        "list_p50_ms": round(_pct(timings, 0.5) or 0, 2),
        "list_p95_ms": round(_pct(timings, 0.95) or 0, 2),
        "list_max_ms": round(max(timings), 2),
        "list_p95_by_shape_ms": {str(k): round(_pct(v, 0.95) or 0, 2) for k, v in sorted(per_shape.items())},
    }


def run(args: argparse.Namespace) -> int:
    rate = args.rate or (500 if args.quick else 1000)
    duration = args.duration or (10.0 if args.quick else 60.0)
    rows = args.rows if args.rows is not None else (100_000 if args.quick else 1_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="xl-bench-command-"))
    try:
        return _run(args, tmp, rate, duration, rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path, rate: int, duration: float, rows: int) -> int:
    from command.db import open_database
    from command.seed import seed_demo
    from xueliang.runtime import EmbeddedRedis

    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    database = open_database(url)
    if not database.is_sqlite:
        if not args.reset:
            print("refusing to use a server database without --reset (it drops and recreates command's tables)", file=sys.stderr)
            return 2
        _reset(database)
    database.upgrade()
    with database.session() as session:
        seed_demo(session, password="")
    result: dict[str, Any] = {"db": database.engine.dialect.name, "quick": bool(args.quick)}
    log = lambda msg: None if args.json else print(msg, flush=True)  # noqa: E731
    result.update({"alerts_sent": 0, "incidents_created": 0, "lost": 0, "duplicated": 0})
    if not args.skip_intake:
        with EmbeddedRedis(tmp / "redis", persist=False) as redis_server:
            log(f"intake: {rate} alerts/s for {duration:.0f} s on {result['db']} …")
            result.update(bench_intake(database, redis_server.url, tmp / "media", rate, duration, tmp / "worker.log"))
    log(f"list: filling {rows} incidents …")
    result["list_rows"] = rows + result["incidents_created"]
    result["fill_s"] = round(fill_incidents(database, rows), 1)
    result.update(bench_list(database, queries=args.queries))
    database.dispose()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    ok = result["lost"] == 0 and result["duplicated"] == 0
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("command", help="alert intake rate/latency and incident-list latency")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="500 alerts/s for 10 s, 100k stored incidents")
    parser.add_argument("--rate", type=int, default=None, help="alerts per second (default 1000)")
    parser.add_argument("--duration", type=float, default=None, help="seconds of sustained intake (default 60)")
    parser.add_argument("--rows", type=int, default=None, help="incidents stored for the list test (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-intake", action="store_true", help="only the incident-list part")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file; a server DB needs --reset")
    parser.add_argument("--reset", action="store_true", help="drop and recreate command's tables in --database-url")
    parser.set_defaults(func=run)
