"""One benchmark load in its own process, so CPU and RSS are measured per implementation.

    python -m ingest.bench_worker '<json job>'   → prints one JSON result line

Jobs (``impl``):
- ``ours``      StreamReader per channel at ``fps`` (throttled / keyframe-only decode)
- ``baseline``  what a user would write: one ``cv2.VideoCapture`` per channel in a
                thread, reading every frame (``rtsp_transport=tcp``), keeping every
                (source_fps/fps)-th frame as the analysed one
- ``connected`` StreamReader per channel, demux only (memory of a connected, idle channel)
- ``patrol``    ChannelScheduler, all channels on keyframe patrol (connect, 1 keyframe, disconnect)

A frame is *late* when it arrives more than ``late_s`` behind the stream clock
(relative to that channel's best latency in the run); an analysed frame that
never arrives in the window counts as late too.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass, field

import psutil


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@dataclass
class _Track:
    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # cid -> [(stream_s, arrival)]

    def add(self, cid: str, stream_s: float, arrival: float) -> None:
        with self.lock:
            self.samples.setdefault(cid, []).append((stream_s, arrival))


def _lateness(track: _Track, channels: list[str], t0: float, t1: float, fps: float, late_s: float) -> dict:
    expected_per = (t1 - t0) * fps
    late = delivered = missing = 0
    worst = 0.0
    with track.lock:
        for cid in channels:
            s = track.samples.get(cid, [])
            if not s:
                missing += int(expected_per)
                continue
            best = min(a - st for st, a in s)
            window = [(st, a) for st, a in s if t0 <= a <= t1]
            delivered += len(window)
            for st, a in window:
                lag = (a - st) - best
                worst = max(worst, lag)
                if lag > late_s:
                    late += 1
            missing += max(0, int(expected_per * 0.98) - len(window))  # 2 % slack for window edges
    expected = expected_per * len(channels)
    return {
        "expected_frames": round(expected),
        "delivered_frames": delivered,
        "late_frames": late,
        "missing_frames": missing,
        "late_fraction": round((late + missing) / expected, 4) if expected else 1.0,
        "worst_lag_s": round(worst, 3),
    }


def _run_ours(job: dict, track: _Track) -> list:
    from ingest import ChannelSpec, ReaderOptions, StreamReader

    def on_frame(f) -> None:
        track.add(f.channel_id, f.pts_s or 0.0, f.ts_monotonic)

    readers = []
    for cid, url in job["urls"].items():
        spec = ChannelSpec(cid, url, mode="continuous", fps=job["fps"])
        decode = job["impl"] != "connected"
        options = ReaderOptions(decode=decode, skip_loop_filter=job.get("skip_loop_filter", False))
        readers.append(StreamReader(spec, on_frame=on_frame if decode else None, options=options).start())
        time.sleep(job["stagger_s"])
    return readers


def _run_baseline(job: dict, track: _Track, stop: threading.Event) -> list:
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_transport;tcp"
    import cv2

    keep_every = max(1, round(job["source_fps"] / job["fps"]))

    def loop(cid: str, url: str) -> None:
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        i = 0
        while not stop.is_set():
            ok, _frame = cap.read()
            if not ok:
                time.sleep(0.5)  # what most hand-written loops do; reopen after a pause
                cap.release()
                cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
                continue
            if i % keep_every == 0:
                track.add(cid, i / job["source_fps"], time.monotonic())
            i += 1
        cap.release()

    threads = []
    for cid, url in job["urls"].items():
        t = threading.Thread(target=loop, args=(cid, url), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(job["stagger_s"])
    return threads


def _connected(job: dict, track: _Track, readers: list) -> bool:
    if job["impl"] == "connected":
        return all(r.stats.packets > 0 for r in readers)
    with track.lock:
        return len(track.samples) >= len(job["urls"])


def run_stream_job(job: dict) -> dict:
    track = _Track()
    stop = threading.Event()
    rss0, cpu_boot = _rss_mb(), _cpu_s()
    t_start = time.monotonic()
    if job["impl"] == "baseline":
        handles = _run_baseline(job, track, stop)
    else:
        handles = _run_ours(job, track)
    deadline = time.monotonic() + job["connect_timeout_s"]
    while not _connected(job, track, handles) and time.monotonic() < deadline:
        time.sleep(0.1)
    connect_s = time.monotonic() - t_start
    if job.get("measure_at"):  # paired run: measure over the same wall-clock window as the other process
        time.sleep(max(0.0, job["measure_at"] - time.time()))
    else:
        time.sleep(job["warmup_s"])
    def decoded() -> tuple[int, int]:
        if job["impl"] != "ours":
            return 0, 0
        return sum(r.stats.packets_decoded for r in handles), sum(r.stats.keyframes_decoded for r in handles)

    d0 = decoded()
    t0, c0 = time.monotonic(), _cpu_s()
    time.sleep(job["seconds"])
    t1, c1 = time.monotonic(), _cpu_s()
    d1 = decoded()
    rss1 = _rss_mb()
    result = {
        "impl": job["impl"], "channels": len(job["urls"]), "fps": job["fps"],
        "connected_channels": len(track.samples) if job["impl"] != "connected" else sum(r.stats.packets > 0 for r in handles),
        "connect_s": round(connect_s, 2),
        "wall_s": round(t1 - t0, 2), "cpu_s": round(c1 - c0, 3),
        "cpu_cores": round((c1 - c0) / (t1 - t0), 3),
        "cpu_pct_per_channel": round(100 * (c1 - c0) / (t1 - t0) / len(job["urls"]), 3),
        "rss_base_mb": round(rss0, 1), "rss_mb": round(rss1, 1),
        "rss_mb_per_channel": round((rss1 - rss0) / len(job["urls"]), 2),
        "startup_cpu_s": round(c0 - cpu_boot, 2),
    }
    if job["impl"] != "connected":
        result.update(_lateness(track, list(job["urls"]), t0, t1, job["fps"], job["late_s"]))
    if job["impl"] == "ours":
        n, span = len(job["urls"]), t1 - t0
        keys = (d1[1] - d0[1]) / n / span
        result["decoded_per_s_per_channel"] = {"key": round(keys, 3), "other": round((d1[0] - d0[0]) / n / span - keys, 3)}
        result["max_step_error_frames"] = _max_step_error(track, job["source_fps"] / job["fps"], job["source_fps"])
    stop.set()
    if job["impl"] == "baseline":
        for t in handles:
            t.join(5)
    else:
        for r in handles:
            r.request_stop()
        for r in handles:
            r.join(5)
    return result


def _max_step_error(track: _Track, ideal_frames: float, source_fps: float) -> float | None:
    """Largest |step between delivered frames - ideal step|, in source frames (from the frames' pts)."""
    worst = None
    with track.lock:
        for samples in track.samples.values():
            pts = [p for p, _ in samples]
            for a, b in zip(pts, pts[1:]):
                step = (b - a) * source_fps
                if 0 < step < 3 * ideal_frames:  # a reconnect or a catch-up skip is not a sampling step
                    err = abs(step - ideal_frames)
                    worst = err if worst is None else max(worst, err)
    return round(worst, 2) if worst is not None else None


def run_decode_limit_job(job: dict) -> dict:
    """Single-thread libavcodec over the footage: CPU per keyframe and per other frame.

    Multiplied by the frames the reader had to decode per second, this is the decode limit
    an ingest channel cannot go below (demux, conversion and Python are all on top).
    """
    import av

    def decode_cpu(keyframes_only: bool) -> tuple[float, int]:
        with av.open(job["file"], format=job["format"]) as c:
            stream = c.streams.video[0]
            cc = stream.codec_context
            cc.thread_count = 1
            if keyframes_only:
                cc.skip_frame = "NONKEY"
            packets = [p for p in c.demux(stream) if p.size and (p.is_keyframe or not keyframes_only)]
            c0 = _cpu_s()
            n = 0
            for p in packets:
                n += len(cc.decode(p))
            n += len(cc.decode(None))
            return _cpu_s() - c0, n

    best_all, best_keys = math.inf, math.inf
    for _ in range(job.get("repeat", 2)):  # best of a few: the box is shared
        cpu_all, frames = decode_cpu(False)
        cpu_keys, keys = decode_cpu(True)
        best_all = min(best_all, cpu_all)
        best_keys = min(best_keys, cpu_keys)
    key_s = best_keys / keys
    other_s = max(0.0, (best_all - best_keys) / max(1, frames - keys))
    return {"impl": "decode_limit", "file": job["file"], "frames": frames, "keyframes": keys,
            "ms_per_keyframe": round(1000 * key_s, 3), "ms_per_other_frame": round(1000 * other_s, 3)}


def run_patrol_job(job: dict) -> dict:
    from ingest import ChannelScheduler, ChannelSpec, SchedulerConfig

    sched = ChannelScheduler(lambda f: None, config=SchedulerConfig(
        patrol_workers=job["workers"], patrol_min_revisit_s=0.0, patrol_visit_timeout_s=8.0))
    rss0 = _rss_mb()
    sched.sync(ChannelSpec(cid, url, mode="patrol", fps=1) for cid, url in job["urls"].items())
    t0, c0 = time.monotonic(), _cpu_s()
    sched.start()
    deadline = t0 + job["max_seconds"]
    # run until every channel has been visited `rounds` times (revisit measured rounds-1 times)
    while time.monotonic() < deadline:
        rep = sched.report()
        if all(c.visits >= job["rounds"] for c in rep.channels):
            break
        time.sleep(0.5)
    t1, c1 = time.monotonic(), _cpu_s()
    rep = sched.report()
    rss1 = _rss_mb()
    sched.stop()
    revisits = sorted(c.revisit_ewma_s for c in rep.channels if c.revisit_ewma_s is not None)
    visits = rep.patrol_visits
    failures = sum(c.failures for c in rep.channels)
    visit_times = [c.mean_visit_s for c in rep.channels if c.mean_visit_s is not None]
    return {
        "impl": "patrol", "channels": len(job["urls"]), "workers": job["workers"],
        "visits": visits, "failures": failures,
        "channels_visited": sum(c.visits > 0 for c in rep.channels),
        "wall_s": round(t1 - t0, 2), "cpu_s": round(c1 - c0, 2),
        "cpu_cores": round((c1 - c0) / (t1 - t0), 3),
        "cpu_ms_per_visit": round(1000 * (c1 - c0) / visits, 2) if visits else None,
        "mean_visit_s": round(sum(visit_times) / len(visit_times), 3) if visit_times else None,
        "revisit_mean_s": round(sum(revisits) / len(revisits), 2) if revisits else None,
        "revisit_p95_s": round(revisits[int(0.95 * (len(revisits) - 1))], 2) if revisits else None,
        "revisit_max_s": round(revisits[-1], 2) if revisits else None,
        "rss_mb": round(rss1, 1), "rss_mb_per_channel": round((rss1 - rss0) / len(job["urls"]), 3),
    }


def main() -> None:
    import av.logging

    av.logging.set_level(av.logging.PANIC)  # a decoder complaint per frame would skew CPU numbers
    job = json.loads(sys.argv[1])
    # import both stacks before the RSS baseline so neither pays for the other's libraries
    import cv2  # noqa: F401

    import ingest  # noqa: F401
    result = (run_patrol_job(job) if job["impl"] == "patrol" else run_decode_limit_job(job) if job["impl"] == "decode_limit"
              else run_stream_job(job))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
