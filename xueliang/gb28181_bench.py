"""``xueliang bench gb28181 [--json] [--quick]``: the GB/T 28181 platform at county scale, on loopback.

The platform runs in this process (as in the GB worker); a bounded device
generator (:mod:`xueliang.gb28181_sim`) runs in a child process and plays N
devices over a pool of UDP sockets: register with digest, keepalive, NVRs
answering Catalog in multi-part MESSAGEs, channels answering INVITE and
streaming PS. Reported: devices_registered, register_per_s, keepalive CPU per
1,000 devices, RSS per 1,000 devices, catalog channels and ingest time, the
100,000-channel (YAML + GB) registry load, INVITE → first decoded frame in the
ingest reader (p50/p95) and lost keepalives.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

PASSWORD = "bench-gb-password"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("gb28181", help="GB/T 28181: devices registering/keepalive, catalog merge, INVITE → first frame")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="CI-sized run (< 1 minute)")
    parser.add_argument("--devices", type=int, default=None, help="simulated devices (default 10000, quick 1000)")
    parser.add_argument("--nvrs", type=int, default=None, help="NVRs answering Catalog (default 100, quick 10)")
    parser.add_argument("--channels-per-nvr", type=int, default=300)
    parser.add_argument("--invites", type=int, default=None, help="INVITE → first frame samples (default 20, quick 4)")
    parser.set_defaults(func=run)


# -- the device generator, in a child process ------------------------------------------------------------
def _child(conn, server: tuple[str, int], media_path: str) -> None:  # noqa: ANN001
    from xueliang.gb28181_sim import DeviceSim

    async def main() -> None:
        from ingest.ps.mux import PsMuxer

        units = []
        if media_path:
            import av
            mux = PsMuxer("h264")
            with av.open(media_path, format="h264") as c:
                for i, p in enumerate(p for p in c.demux(c.streams.video[0]) if p.size):
                    units.append(mux.mux(bytes(p), 9000 * (i + 1), bool(p.is_keyframe)))
        sim = DeviceSim(server=server, password=PASSWORD, sockets=64, media_units=units, fps=10.0)
        await sim.start()
        loop = asyncio.get_running_loop()
        conn.send(("ready",))
        while True:
            cmd, *args = await loop.run_in_executor(None, conn.recv)
            if cmd == "stop":
                break
            if cmd == "register":
                ids, window = args
                sem = asyncio.Semaphore(window)

                async def one(d: str, sem: asyncio.Semaphore = sem) -> bool:
                    for attempt in range(3):  # devices retry a failed registration, as real ones do
                        async with sem:
                            try:
                                if await sim.register(d):
                                    return True
                            except TimeoutError:
                                pass
                        await asyncio.sleep(1.0 + attempt)
                    return False
                t0 = time.perf_counter()
                ok = sum(await asyncio.gather(*(one(d) for d in ids)))
                conn.send((ok, time.perf_counter() - t0))
            elif cmd == "nvrs":
                for dev, n in args[0].items():
                    sim.make_nvr(dev, n)
                conn.send(("ok",))
            elif cmd == "keepalive":
                ids, duration, interval = args
                t0 = time.perf_counter()
                tasks = []
                rounds = max(1, int(duration // interval))
                for r in range(rounds):  # each device once per interval, spread evenly over it
                    for i, d in enumerate(ids):
                        due = t0 + r * interval + interval * i / len(ids)
                        delay = due - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        tasks.append(asyncio.ensure_future(sim.keepalive(d)))
                acked = sum(await asyncio.gather(*tasks))
                conn.send((len(tasks), acked))
            elif cmd == "stats":
                conn.send((sim.stats.__dict__.copy(),))
        sim.close()

    asyncio.run(main())


class _Child:
    def __init__(self, server: tuple[str, int], media_path: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child_conn, server, media_path), daemon=True)
        self.proc.start()

    async def call(self, *msg: object, timeout: float = 600.0) -> tuple:
        if msg:
            self.conn.send(msg)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, self.conn.poll, timeout)
        if not ok:
            raise TimeoutError(f"device generator did not answer {msg[0]} within {timeout:.0f} s")
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.send(("stop",))
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


def _rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


async def _bench(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    from devices.gb28181 import GbConfig, GbPlatform
    from xueliang.gb28181_sim import device_id
    from xueliang.settings import REPO_ROOT

    quick = args.quick
    n_dev = args.devices or (1000 if quick else 10_000)
    n_nvr = args.nvrs or (10 if quick else 100)
    per_nvr = args.channels_per_nvr
    n_inv = args.invites or (4 if quick else 20)
    ka_interval, ka_duration = (2.0, 4.0) if quick else (10.0, 30.0)

    platform = await GbPlatform(GbConfig(platform_id="34020000002000000001", host="127.0.0.1", port=0, password=PASSWORD,
                                         auto_query=False, keepalive_interval_s=60.0, catalog_timeout_s=120.0,
                                         transaction_timeout_s=20.0)).start()
    proc = psutil.Process()
    rss0 = _rss_mb()
    child = _Child(("127.0.0.1", platform.port), str(REPO_ROOT / "samples" / "vtest_640x360_g10.h264"))
    out: dict[str, object] = {"devices": n_dev, "quick": quick}
    try:
        assert (await child.call(timeout=60))[0] == "ready"
        ids = [device_id(i) for i in range(n_dev)]
        ok, secs = await child.call("register", ids, 500)
        out["devices_registered"] = sum(1 for d in platform.store.devices.values() if d.online)
        out["register_per_s"] = round(ok / secs, 1)
        rss1 = _rss_mb()
        out["rss_mb_per_1000_devices"] = round((rss1 - rss0) / (n_dev / 1000), 2)

        ka0 = platform.counters["keepalives"]
        cpu0, t0 = proc.cpu_times(), time.perf_counter()
        sent, acked = await child.call("keepalive", ids, ka_duration, ka_interval)
        cpu1, t1 = proc.cpu_times(), time.perf_counter()
        cpu_pct = 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0)
        out["keepalive_interval_s"] = ka_interval
        out["keepalives_sent"] = sent
        out["lost_keepalives"] = sent - (platform.counters["keepalives"] - ka0)
        out["keepalive_cpu_pct"] = round(cpu_pct / (n_dev / 1000), 3)  # per 1,000 devices at the bench interval
        out["keepalive_cpu_pct_at_60s"] = round(cpu_pct / (n_dev / 1000) * ka_interval / 60.0, 3)

        # NVRs with multi-part catalogs
        nvrs = [device_id(i, "118") for i in range(n_nvr)]
        await child.call("nvrs", {d: per_nvr for d in nvrs})
        await child.call("register", nvrs, 100)
        sem = asyncio.Semaphore(20)

        async def cat(d: str) -> int:
            async with sem:
                return len(await platform.query_catalog(d, timeout_s=120))
        t0 = time.perf_counter()
        await asyncio.gather(*(cat(d) for d in nvrs))
        out["catalog_ingest_s"] = round(time.perf_counter() - t0, 2)
        out["catalog_channels"] = len(platform.store.channels)
        out["catalog_parts_per_nvr"] = -(-per_nvr // 20)

        out.update(_registry_figures(platform, workdir, 10_000 if quick else 100_000))
        out["invite_to_first_frame_s"] = await _first_frames(platform, n_inv)
    finally:
        child.stop()
        await platform.stop()
    out["platform_cpu_s_total"] = round(sum(proc.cpu_times()[:2]), 1)
    out["loadavg_1m"] = round(os.getloadavg()[0], 2)
    out["cpus"] = os.cpu_count()
    return out


def _registry_figures(platform, workdir: Path, total: int) -> dict[str, object]:  # noqa: ANN001
    """Persist the merged catalogs, then load YAML + GB channels into one registry index."""
    from command.db import open_database
    from devices import RegistryWatcher
    from devices.gb28181 import ChannelMapping, GbChannelSource, persist
    from devices.registry.generate import generate_registry_yaml

    db = open_database(f"sqlite:///{workdir / 'gb.db'}", upgrade=True)
    by_dev: dict[str, list] = {}
    for dev, item in platform.store.channels.values():
        by_dev.setdefault(dev, []).append(item)
    t0 = time.perf_counter()
    for dev, items in by_dev.items():
        persist.save_catalog(db.engine, dev, items)
    persist_s = time.perf_counter() - t0
    gb = len(platform.store.channels)
    yaml_path = workdir / "cameras.yaml"
    yaml_path.write_text(generate_registry_yaml(max(total - gb, 0)))
    source = GbChannelSource(db.engine, ChannelMapping())
    c0, t0 = time.process_time(), time.perf_counter()
    watcher = RegistryWatcher(yaml_path, sources=[source])
    watcher.current.index  # noqa: B018 - the index is built on first use: count it in (load + index)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    c0 = time.process_time()
    source.cameras()  # the GB share alone: read the table, build the cameras
    gb_cpu = time.process_time() - c0
    reg = watcher.current
    t0 = time.perf_counter()
    n_gb = len(reg.with_tag("gb28181"))
    query_ms = (time.perf_counter() - t0) * 1000
    db.dispose()
    return {"catalog_persist_s": round(persist_s, 2), "registry_channels": len(reg), "registry_gb_channels": n_gb,
            "registry_load_index_s": round(load_s, 2), "registry_load_index_cpu_s": round(load_cpu, 2),
            "registry_gb_part_cpu_s": round(gb_cpu, 2), "registry_tag_query_ms": round(query_ms, 2)}


async def _first_frames(platform, n: int) -> dict[str, float]:  # noqa: ANN001
    from ingest import ChannelSpec, StreamReader
    from ingest.ps import GbMediaHub, PsHttpServer

    hub = GbMediaHub(platform, media_host="127.0.0.1", bind_host="127.0.0.1", mode="udp", linger_s=0.2)
    http = await PsHttpServer(hub, "127.0.0.1", 0, token=secrets.token_urlsafe(24)).start()
    channels = sorted(platform.store.channels)[:n]
    times: list[float] = []
    try:
        for ch in channels:
            got = threading.Event()
            reader = StreamReader(ChannelSpec(id=ch, url=http.url(ch), mode="continuous", fps=10.0),
                                  on_frame=lambda _f, got=got: got.set())
            t0 = time.perf_counter()
            reader.start()
            loop = asyncio.get_running_loop()
            ok = await loop.run_in_executor(None, got.wait, 20.0)
            if ok:
                times.append(time.perf_counter() - t0)
            reader.stop()
            await asyncio.sleep(0.3)
    finally:
        await hub.close()
        await http.stop()
    return {"p50": round(statistics.median(times), 3) if times else None, "p95": round(_pct(times, 0.95), 3) if times else None,
            "samples": len(times), "of": len(channels)}


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="xl-bench-gb-") as tmp:
        result = asyncio.run(_bench(args, Path(tmp)))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    for k, v in result.items():
        print(f"{k:<28} {v}")
    return 0
