"""``xueliang bench chaos [--json] [--quick]``: alerts keep flowing through process and Redis faults.

Real processes on loopback: an embedded Valkey with its append-only file, two
``xueliang command run`` workers sharing the intake, ``xueliang web run`` with a
WebSocket client attached, and in this process the analytics alert publisher
(``analytics.AlertPublisher`` with its disk spool) sending alerts at a fixed rate.
While it sends, the bench

1. kills -9 the command worker that holds the SLA-timer lease (and never restarts it),
2. kills -9 web (the WebSocket client reconnects with its last event id) and restarts it,
3. kills -9 Valkey and restarts it at once (the append-only file is all it keeps),
4. stops Valkey for an outage the publisher rides out on its spool, then starts it again.

Then it waits for the backlog and reports: ``lost`` (alerts with no incident source),
``duplicated`` (sources or ``xl:events`` entries stored twice), ``events_missed_by_client``
(``xl:events`` entries the WebSocket client never received), ``pushes_missing`` (incidents
with no ``incident.created`` on the stream), ``timer_gap_s`` (the longest an SLA deadline
waited for the timer pass that acted on it: probe incidents get a deadline every second),
``worker_restarts_needed`` (workers that died without being killed, or intake left stalled),
and ``redis_loss_window_s``: a probe writer XADDs every 5 ms and records each
acknowledgement; after the kill -9 the span of acknowledged writes that Valkey no longer
has is the loss window (0 when nothing acknowledged was lost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROBE_STREAM = "xl:chaos:probe"
USER = "chaos"
PASSWORD = "chaos-Passw0rd-bench"
SECRET = "chaos-bench-secret-key-0123456789abcdef"


@dataclass(frozen=True)
class Plan:
    alerts: int
    rate: float
    cameras: int
    outage_s: float
    # when each fault happens, in seconds after the first alert
    kill_worker_at: float
    kill_web_at: float
    restart_redis_at: float
    outage_at: float
    claim_idle_s: float = 10.0
    drain_timeout_s: float = 240.0


FULL = Plan(alerts=20_000, rate=400, cameras=5_000, outage_s=30, kill_worker_at=6, kill_web_at=10, restart_redis_at=14,
            outage_at=18)
QUICK = Plan(alerts=4_000, rate=400, cameras=1_000, outage_s=6, kill_worker_at=1.5, kill_web_at=2.5,
             restart_redis_at=3.5, outage_at=4.5, claim_idle_s=5.0, drain_timeout_s=150.0)


def _small_jpeg() -> bytes:
    import cv2
    import numpy as np

    image = (np.random.default_rng(1).random((120, 160, 3)) * 255).astype("uint8")
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert ok
    return data.tobytes()


# ---- the WebSocket client ------------------------------------------------------------------------


@dataclass
class SocketClient:
    """Listens on ``/api/ws`` from the start of the stream and reconnects with its last event id."""

    ws_url: str
    token: str
    received: list[str] = field(default_factory=list)
    connects: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    last_id: str = "0-0"

    def run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        import websockets

        while not self.stop.is_set():
            try:
                async with websockets.connect(f"{self.ws_url}/api/ws?token={self.token}&last_event_id={self.last_id}",
                                              open_timeout=5, max_size=2**24) as ws:
                    self.connects += 1
                    while not self.stop.is_set():
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.5)
                        except TimeoutError:
                            continue
                        message = json.loads(raw)
                        if message.get("type") == "hello":
                            continue
                        self.received.append(message["stream_id"])
                        self.last_id = message["stream_id"]
            except Exception:  # noqa: BLE001 - web killed or restarting: reconnect from the last id
                await asyncio.sleep(0.2)


# ---- the Redis loss probe --------------------------------------------------------------------------


@dataclass
class LossProbe:
    """XADDs a sequence number every ``interval_s`` and remembers when each write was acknowledged."""

    url: str
    interval_s: float = 0.005
    acked: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
        seq = 0
        while not self.stop.is_set():
            seq += 1
            try:
                client.xadd(PROBE_STREAM, {"seq": seq})
                self.acked[seq] = time.time()
            except redis.RedisError:
                pass
            time.sleep(self.interval_s)
        client.close()

    def loss_window(self, client: Any, until: float) -> tuple[int, float]:
        """Acknowledged writes (before ``until``) that Redis no longer has, and the time they span."""
        present = {int(fields[b"seq"]) for _, fields in client.xrange(PROBE_STREAM)}
        lost = [t for seq, t in self.acked.items() if t <= until and seq not in present]
        return len(lost), (round(max(lost) - min(lost) + self.interval_s, 3) if lost else 0.0)


# ---- the run ---------------------------------------------------------------------------------------


def _prepare_database(url: str) -> Any:
    from command import create_user, open_database, seed_demo
    from web import hash_password

    database = open_database(url, upgrade=True)
    with database.session() as session:
        seed_demo(session, password="")
        create_user(session, USER, hash_password(PASSWORD), "admin", "330381", display_name="chaos bench")
    return database


def _plant_timer_probes(database: Any, start: float, seconds: int) -> dict[int, datetime]:
    """One incident per second of the run whose resolve deadline falls due then; returns id → deadline."""
    from sqlalchemy import update

    from command import AlertIn, intake_alerts
    from command.models import Incident

    now = datetime.now(UTC)
    alerts = [(AlertIn(alert_id=f"probe-{k}-{uuid.uuid4().hex[:6]}", camera_id=f"probe{k:04d}", camera_name=f"probe{k}",
                       jurisdiction_code="330381101201", rule_id="probe", rule_kind="zone_intrusion", object_class="person",
                       confidence=0.9, ts=now, boxes=[], frame_width=480, frame_height=360, dedup_key=f"probe{k}"), None)
              for k in range(seconds)]
    deadlines: dict[int, datetime] = {}
    with database.session() as session:
        results = intake_alerts(session, alerts)
        for k, result in enumerate(results):
            deadline = datetime.fromtimestamp(start + 1 + k, UTC)
            deadlines[result.incident.id] = deadline
            session.execute(update(Incident).where(Incident.id == result.incident.id).values(resolve_deadline=deadline))
    return deadlines


def _timer_gap(database: Any, deadlines: dict[int, datetime], until: datetime) -> float:
    from sqlalchemy import func, select

    from command.models import AuditEvent

    with database.session() as session:
        acted = dict(session.execute(
            select(AuditEvent.incident_id, func.min(AuditEvent.at))
            .where(AuditEvent.incident_id.in_(list(deadlines)), AuditEvent.action == "supervise")
            .group_by(AuditEvent.incident_id)).all())
    gaps = []
    for incident_id, deadline in deadlines.items():
        if deadline > until:
            continue
        at = acted.get(incident_id)
        gaps.append(((at if at is not None else until) - deadline).total_seconds())
    return round(max(gaps), 2) if gaps else 0.0


def chaos(plan: Plan, tmp: Path, database_url: str | None, log: Any) -> dict[str, Any]:  # noqa: C901 - one scenario
    import httpx
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from sqlalchemy import func, select

    from analytics.alerts import AlertPublisher
    from analytics.spool import AlertSpool
    from command import AlertIn
    from command.models import Incident, IncidentSource, Lease
    from command.streams import ALERTS_STREAM, CONSUMER_GROUP, EVENTS_STREAM
    from xueliang.runtime import EmbeddedRedis, free_port, spawn, stop, wait_for_port

    url = database_url or f"sqlite:///{tmp / 'chaos.db'}"
    database = _prepare_database(url)
    server = EmbeddedRedis(tmp / "redis", appendfsync="everysec").start()
    env = {"DATABASE_URL": url, "REDIS_URL": server.url, "XUELIANG_DATA_DIR": str(tmp / "data"),
           "XUELIANG_SECRET_KEY": SECRET, "XUELIANG_LOG_LEVEL": "WARNING"}
    workers: dict[str, Any] = {}

    def start_worker(name: str) -> None:
        workers[name] = spawn([sys.executable, "-m", "xueliang.cli", "--log-level", "WARNING", "command", "run",
                               "--consumer", name, "--media-dir", str(tmp / "media"), "--claim-idle", str(plan.claim_idle_s)],
                              env=env, log_path=tmp / f"{name}.log")

    web_port = free_port()

    def start_web() -> Any:
        return spawn([sys.executable, "-m", "xueliang.cli", "web", "run", "--port", str(web_port)], env=env,
                     log_path=tmp / "web.log")

    for name in ("chaos-w1", "chaos-w2"):
        start_worker(name)
    web = start_web()
    wait_for_port("127.0.0.1", web_port, 240, web)  # interpreter start-up alone takes a minute on a loaded box
    control = redis.Redis.from_url(server.url)
    deadline = time.time() + 240
    while True:  # both workers joined the group
        try:
            names = {c["name"].decode() for c in control.xinfo_consumers(ALERTS_STREAM, CONSUMER_GROUP)}
        except redis.ResponseError:
            names = set()
        if names >= set(workers):
            break
        for name, proc in workers.items():
            if proc.poll() is not None:
                raise RuntimeError(f"worker {name} exited with {proc.returncode}; see {tmp / (name + '.log')}")
        if time.time() > deadline:
            raise RuntimeError(f"workers did not join the consumer group in 240 s; see {tmp}")
        time.sleep(0.1)
    with httpx.Client(base_url=f"http://127.0.0.1:{web_port}", timeout=30) as http:
        response = http.post("/api/auth/login", json={"username": USER, "password": PASSWORD})
        response.raise_for_status()
        token = response.json()["access_token"]
    socket = SocketClient(f"ws://127.0.0.1:{web_port}", token)
    socket_thread = threading.Thread(target=socket.run, name="chaos-ws", daemon=True)
    socket_thread.start()
    probe = LossProbe(server.url)
    probe_thread = threading.Thread(target=probe.run, name="chaos-probe", daemon=True)
    probe_thread.start()

    produce_s = plan.alerts / plan.rate
    run_s = int(max(produce_s, plan.outage_at + plan.outage_s)) + 5
    start = time.time() + 1.0
    deadlines = _plant_timer_probes(database, start, run_s)

    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    spool = AlertSpool(tmp / "spool")
    publisher = AlertPublisher(client, spool=spool)
    jpeg = _small_jpeg()
    sent: list[str] = []
    faults: dict[str, Any] = {}
    killed: set[str] = set()

    def lease_holder() -> str | None:
        with database.session() as session:
            return session.scalar(select(Lease.holder).where(Lease.name == "sla-timers"))

    def web_back(spawned_at: float) -> None:  # a watcher only: processes are spawned by the main thread
        try:
            wait_for_port("127.0.0.1", web_port, 240, web_proc[0])
            faults["web_restart_s"] = round(time.time() - spawned_at, 1)
        except (RuntimeError, TimeoutError) as exc:
            faults["error"] = f"web did not come back: {exc}"

    def fault_schedule() -> None:
        """Runs in the main thread: a child's PR_SET_PDEATHSIG fires when the *thread* that spawned it ends."""
        def at(offset: float) -> None:
            time.sleep(max(0.0, start + offset - time.time()))

        at(plan.kill_worker_at)
        holder = lease_holder() or "chaos-w1"
        victim = holder if holder in workers else "chaos-w1"
        workers[victim].kill()
        killed.add(victim)
        faults["worker_killed"] = {"name": victim, "held_timer_lease": victim == holder, "at_s": round(time.time() - start, 1)}
        log(f"  kill -9 command worker {victim} (timer lease holder: {holder})")
        at(plan.kill_web_at)
        web_proc[0].kill()
        web_proc[0].wait()
        log(f"  kill -9 web with the WebSocket client attached ({len(socket.received)} events received so far)")
        web_proc[0] = start_web()
        threading.Thread(target=web_back, args=(time.time(),), daemon=True).start()
        at(plan.restart_redis_at)
        probe_until[0] = time.time()
        server.kill()
        t = time.time()
        server.start()
        faults["redis_restart_s"] = round(time.time() - t, 2)
        check = redis.Redis.from_url(server.url)
        faults["redis_writes_lost"], faults["redis_loss_window_s"] = probe.loss_window(check, probe_until[0])
        check.close()
        log(f"  kill -9 Valkey, restarted in {faults['redis_restart_s']} s; acknowledged writes lost: {faults['redis_writes_lost']}")
        at(plan.outage_at)
        server.stop()
        log(f"  Valkey down for {plan.outage_s:.0f} s")
        time.sleep(plan.outage_s)
        faults["spooled_during_outage"] = len(spool)
        server.start()
        log(f"  Valkey back; {faults['spooled_during_outage']} alerts waiting in the publisher's spool")

    web_proc = [web]
    probe_until = [0.0]

    def produce() -> None:
        ts0 = datetime.now(UTC)
        for i in range(plan.alerts):
            due = start + i / plan.rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            camera = f"chaos{i % plan.cameras:05d}"
            alert = AlertIn(alert_id=uuid.uuid4().hex, camera_id=camera, camera_name=camera,
                            jurisdiction_code=f"330381{101 + i % 13}{201 + i % 10}", rule_id="chaos",
                            rule_kind="zone_intrusion", object_class="person", confidence=0.9, track_id=i,
                            ts=ts0 + timedelta(milliseconds=i), boxes=[[10, 10, 100, 200]], frame_width=480,
                            frame_height=360, dedup_key=camera)
            publisher.submit(alert, jpeg)
            sent.append(alert.alert_id)
        produced[0] = time.time() - start

    produced = [0.0]
    producer = threading.Thread(target=produce, name="chaos-producer", daemon=True)
    log(f"chaos: {plan.alerts} alerts at {plan.rate:.0f}/s over {plan.cameras} cameras; faults while sending")
    time.sleep(max(0.0, start - time.time()))
    producer.start()
    try:
        fault_schedule()
    except Exception as exc:  # noqa: BLE001 - reported in the result; the services come back regardless
        faults["error"] = f"{exc.__class__.__name__}: {exc}"
        log(f"  fault schedule failed: {faults['error']}")
    if server.pid is None:
        server.start()
    producer.join()
    produced_s = produced[0]
    log(f"  {len(sent)} alerts submitted in {produced_s:.1f} s; draining …")

    # ---- drain -----------------------------------------------------------------------------------
    expected = set(sent)
    drain_deadline = time.time() + plan.drain_timeout_s
    stored = 0
    while time.time() < drain_deadline:
        with database.session() as session:
            stored = session.scalar(select(func.count(func.distinct(IncidentSource.ref))).where(
                IncidentSource.kind == "video", IncidentSource.ref.not_like("probe-%")))
        if stored >= len(expected) and publisher.pending == 0:
            break
        time.sleep(0.5)
    drained_s = time.time() - start
    end = datetime.now(UTC)
    time.sleep(max(0.0, start + run_s - time.time()))  # the last timer probes fall due
    # the client has caught up with the stream head (or it never will)
    head = control.xrevrange(EVENTS_STREAM, count=1)
    head_id = head[0][0].decode() if head else None
    caught_up_by = time.time() + 30
    while head_id and socket.last_id != head_id and time.time() < caught_up_by:
        time.sleep(0.2)
        head = control.xrevrange(EVENTS_STREAM, count=1)
        head_id = head[0][0].decode() if head else None
    end = max(end, datetime.now(UTC))
    survivors = {n: p for n, p in workers.items() if n not in killed}
    died = [n for n, p in survivors.items() if p.poll() is not None]

    # ---- measure ---------------------------------------------------------------------------------
    with database.session() as session:
        refs = session.scalars(select(IncidentSource.ref).where(IncidentSource.kind == "video",
                                                                 IncidentSource.ref.not_like("probe-%"))).all()
        incident_ids = set(session.scalars(select(Incident.id).where(Incident.camera_id.not_like("probe%"))).all())
    stream = control.xrange(EVENTS_STREAM)
    stream_ids = [eid.decode() for eid, _ in stream]
    events = [json.loads(f[b"event"]) for _, f in stream]
    created_for = {e["payload"].get("id") for e in events if e["type"] == "incident.created"}
    event_ids = [e["id"] for e in events]
    received = set(socket.received)
    timer_gap = _timer_gap(database, deadlines, end)
    result: dict[str, Any] = {
        "db": database.engine.dialect.name,
        "alerts_sent": len(sent),
        "rate_target": plan.rate,
        "rate_achieved": round(len(sent) / produced_s, 1),
        "incidents": len(incident_ids),
        "lost": len(expected - set(refs)),
        "duplicated": (len(refs) - len(set(refs))) + (len(event_ids) - len(set(event_ids)))
                      + (len(socket.received) - len(received)),
        "events_on_stream": len(stream_ids),
        "events_missed_by_client": len(set(stream_ids) - received),
        "pushes_missing": len(incident_ids - created_for),
        "client_reconnects": socket.connects - 1,
        "timer_gap_s": timer_gap,
        "worker_restarts_needed": len(died) + (0 if stored >= len(expected) else 1),
        "redis_loss_window_s": faults.get("redis_loss_window_s"),
        "redis_writes_lost": faults.get("redis_writes_lost"),
        "redis_outage_s": plan.outage_s,
        "spooled_during_outage": faults.get("spooled_during_outage"),
        "drained_s": round(drained_s, 1),
        "faults": faults,
        "appendfsync": server.appendfsync,
    }

    # ---- stop ------------------------------------------------------------------------------------
    socket.stop.set()
    probe.stop.set()
    publisher.close(timeout=2)
    socket_thread.join(5)
    probe_thread.join(5)
    for proc in survivors.values():
        stop(proc, timeout=20)
    stop(web_proc[0], timeout=20)
    client.close()
    control.close()
    server.stop()
    database.dispose()
    return result


def passed(result: dict[str, Any], plan: Plan) -> bool:
    return ("error" not in result["faults"] and result["lost"] == 0 and result["duplicated"] == 0 and result["events_missed_by_client"] == 0
            and result["pushes_missing"] == 0 and result["timer_gap_s"] <= 10 and result["worker_restarts_needed"] == 0
            and result["rate_achieved"] >= 0.97 * plan.rate)


def run(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else FULL
    if args.alerts:
        plan = Plan(**{**asdict(plan), "alerts": args.alerts, "cameras": max(1, args.alerts // 4)})
    if args.outage is not None:
        plan = Plan(**{**asdict(plan), "outage_s": args.outage})
    tmp = Path(tempfile.mkdtemp(prefix="xl-bench-chaos-"))
    log = (lambda msg: None) if args.json else (lambda msg: print(msg, flush=True))
    try:
        result = chaos(plan, tmp, args.database_url, log)
        result["quick"] = bool(args.quick)
        ok = passed(result, plan)
    except Exception as exc:
        print(f"chaos bench failed: {exc} (logs kept in {tmp})", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    if ok or not args.keep_logs:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {tmp}", file=sys.stderr)
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("chaos", help="alerts through kill -9 of a worker, web and Redis and a Redis outage")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="4,000 alerts and a 6 s outage (under 2 minutes)")
    parser.add_argument("--alerts", type=int, default=None, help="alerts to send (default 20,000; quick 4,000)")
    parser.add_argument("--outage", type=float, default=None, help="seconds Redis stays down (default 30; quick 6)")
    parser.add_argument("--database-url", default=None,
                        help="an empty database to use (default: a fresh SQLite file; it is migrated and seeded)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs when a check fails")
    parser.set_defaults(func=run)


__all__ = ["FULL", "QUICK", "Plan", "chaos", "passed", "register", "run"]
