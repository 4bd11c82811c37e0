"""``xueliang bench search [--json] [--rows 100000] [--database-url URL --reset]``

Incident search as the desk asks for it, through the HTTP API the page uses
(``GET /api/search/incidents``): a real uvicorn web process over a seeded database
holding N incidents with Chinese titles, 诉求内容, addresses, callers, phone numbers and
work-order numbers, a real Valkey, a county operator's token. The query mix: words,
addresses, a caller's name, a phone fragment, an incident id, a work-order number, each
filter alone and combined, every sort, and following ``next_cursor`` past row 200.
Prints ``search_p95_ms`` (all queries) and per-shape p95; every planted case must be found.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

BENCH_PASSWORD = "bench-Passw0rd-search"


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0


ROADS = ("人民路", "解放路", "建设路", "中山路", "新华街", "文化路", "滨江路", "学府路", "工业大道", "环城北路")


def query_mix(needles: dict[str, Any], townships: list[str], rng: random.Random) -> list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict], bool] | None]]:
    """(shape name, params factory, check of the first page or None)."""
    planted = needles["incident_id"]

    def has_planted(page: dict) -> bool:
        return any(item["id"] == planted for item in page["items"])

    week_ago = (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    return [
        ("word", lambda: {"q": rng.choice(["噪音", "停水", "纠纷", "垃圾", "被盗", "路灯"])}, None),
        ("two_words", lambda: {"q": f"{rng.choice(ROADS)} {rng.choice(['噪音', '停水', '纠纷'])}"}, None),
        ("address", lambda: {"q": needles["address"]}, has_planted),
        ("caller", lambda: {"q": needles["caller"]}, has_planted),
        ("phone_fragment", lambda: {"q": needles["phone"][-8:]}, has_planted),
        ("incident_id", lambda: {"q": str(planted)}, has_planted),
        ("work_order", lambda: {"q": needles["work_order"]}, has_planted),
        ("absent_word", lambda: {"q": "不存在的词语"}, lambda page: page["total"] == 0),
        ("status", lambda: {"status": "dispatched,acknowledged"}, None),
        ("category_source", lambda: {"category": "noise", "source": "hotline_12345"}, None),
        ("township_open", lambda: {"jurisdiction_code": rng.choice(townships), "open_only": "true"}, None),
        ("time_range", lambda: {"since": week_ago}, None),
        ("colour_overdue", lambda: {"colour": "red", "overdue_only": "true"}, None),
        ("all_filters", lambda: {"q": "噪音", "status": "classified,dispatched", "category": "noise", "source": "hotline_12345",
                                 "jurisdiction_code": rng.choice(townships), "since": week_ago, "colour": "yellow,red"}, None),
        ("sort_deadline", lambda: {"sort": "deadline", "open_only": "true"}, None),
        ("sort_urgency", lambda: {"sort": "urgency", "open_only": "true"}, None),
        ("sort_oldest", lambda: {"sort": "oldest", "source": "police_110"}, None),
    ]


def bench_search(base_url: str, token: str, needles: dict[str, Any], townships: list[str], rounds: int,
                 seed: int = 3) -> dict[str, Any]:
    import httpx

    rng = random.Random(seed)
    shapes = query_mix(needles, townships, rng)
    timings: list[float] = []
    per_shape: dict[str, list[float]] = {}
    failures: list[str] = []
    pages_past_200 = 0
    with httpx.Client(base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        http.get("/api/search/incidents", params={"q": "预热"})
        for _ in range(rounds):
            for name, make_params, check in shapes:
                query = make_params()
                t = time.perf_counter()
                r = http.get("/api/search/incidents", params={**query, "limit": 50})
                ms = (time.perf_counter() - t) * 1000
                if r.status_code != 200:
                    failures.append(f"{name}: HTTP {r.status_code} {r.text[:200]}")
                    continue
                timings.append(ms)
                per_shape.setdefault(name, []).append(ms)
                if check is not None and not check(r.json()):
                    failures.append(f"{name}: planted case not found for {query}")
        # paging past row 200: follow next_cursor five pages of 50 (rows 201-250 on the last)
        for sort in ("newest", "deadline", "urgency"):
            params: dict[str, Any] = {"sort": sort, "limit": 50, "open_only": "true"}
            seen: set[int] = set()
            for _page in range(5):
                t = time.perf_counter()
                r = http.get("/api/search/incidents", params=params)
                ms = (time.perf_counter() - t) * 1000
                timings.append(ms)
                per_shape.setdefault(f"page_{sort}", []).append(ms)
                body = r.json()
                ids = [item["id"] for item in body["items"]]
                if seen.intersection(ids):
                    failures.append(f"paging {sort}: a row repeated across pages")
                seen.update(ids)
                if not body["next_cursor"]:
                    break
                params["cursor"] = body["next_cursor"]
            if len(seen) > 200:
                pages_past_200 += 1
            else:
                failures.append(f"paging {sort}: only {len(seen)} rows reached")
    return {
        "search_queries": len(timings),
        "search_p50_ms": round(_pct(timings, 0.5), 1),
        "search_p95_ms": round(_pct(timings, 0.95), 1),
        "search_max_ms": round(max(timings), 1) if timings else None,
        "search_p95_by_shape_ms": {k: round(_pct(v, 0.95), 1) for k, v in per_shape.items()},
        "paged_past_200": pages_past_200,
        "failures": failures,
    }


class _ServerThread:
    """uvicorn serving the app in a thread of this process, stopped gracefully."""

    def __init__(self, app: FastAPI, port: int) -> None:
        import threading

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                   access_log=False, timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, name=f"bench-web-{port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def run(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="xl-bench-search-"))
    try:
        return _run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path) -> int:
    from sqlalchemy import select, text

    from command import Incident, Jurisdiction, create_user, fill_search_corpus, open_database, seed_demo
    from web import create_app, hash_password
    from xueliang.runtime import EmbeddedRedis, free_port
    from xueliang.settings import Settings

    log = (lambda msg: None) if args.json else (lambda msg: print(msg, flush=True))
    url = args.database_url or f"sqlite:///{tmp / 'search.db'}"
    database = open_database(url)
    if not database.is_sqlite:
        if not args.reset:
            print("refusing to use a server database without --reset (it drops and recreates command's tables)", file=sys.stderr)
            return 2
        with database.engine.begin() as connection:
            Incident.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    database.upgrade()
    with database.session() as session:
        seed_demo(session, password="")
        create_user(session, "bench_county", hash_password(BENCH_PASSWORD), "county_operator", "330381", display_name="县级值班员")
        townships = list(session.scalars(select(Jurisdiction.code).where(Jurisdiction.level == "township")))
    log(f"filling {args.rows} incidents on {database.engine.dialect.name} …")
    t = time.perf_counter()
    needles = fill_search_corpus(database, args.rows)
    fill_s = time.perf_counter() - t
    result: dict[str, Any] = {"db": database.engine.dialect.name, "rows": args.rows, "fill_s": round(fill_s, 1)}
    with EmbeddedRedis(tmp / "redis", persist=False) as redis_server:
        settings = Settings(data_dir=tmp, cameras_file=tmp / "none.yaml", database_url=url, redis_url=redis_server.url,
                            secret_key="bench-search-secret-key-0123456789abcdef", web_port=free_port())
        server = _ServerThread(create_app(settings), settings.web_port)
        try:
            base = f"http://127.0.0.1:{settings.web_port}"
            import httpx

            r = httpx.post(f"{base}/api/auth/login", json={"username": "bench_county", "password": BENCH_PASSWORD}, timeout=30)
            r.raise_for_status()
            log("querying through GET /api/search/incidents …")
            result.update(bench_search(base, r.json()["access_token"], needles, townships, args.rounds))
        finally:
            server.stop()
    database.dispose()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0 if not result["failures"] and result["search_p95_ms"] <= args.floor_ms else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="desk search over N incidents through the HTTP API (search_p95_ms)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rows", type=int, default=100_000, help="stored incidents (default 100,000)")
    parser.add_argument("--rounds", type=int, default=10, help="passes over the query mix")
    parser.add_argument("--floor-ms", type=float, default=300.0, help="exit 1 when search_p95_ms is above this")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file; a server DB needs --reset")
    parser.add_argument("--reset", action="store_true", help="drop and recreate command's tables in --database-url")
    parser.set_defaults(func=run)
