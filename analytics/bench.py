"""``xueliang bench analytics [--json] [--quick]``: every figure from one run on this box.

The box is shared (CI runners, neighbours' benchmarks), so capacities are measured in
CPU time — frames per CPU-second of the process doing the work, scaled to the box's
cores — which moves far less with other people's load than wall time does. Wall-clock
figures are printed alongside (``*_wall``).

- ``raw_fps``: images/s of ``session.run`` alone on preprocessed batches (the model's ceiling).
- ``pipeline_fps``: frames/s through decode (PyAV, per channel) + letterbox + gate + batched
  inference + ByteTrack + rules on N channels of the sample footage, every frame inferred
  (the gate runs but cannot skip), so it is comparable to ``raw_fps``. Raw and pipeline are
  measured in alternating slices; ``pipeline_vs_raw`` is the median per-slice ratio.
- ``gating_skip_ratio`` / ``gated_recall``: a realistic mix of channels (sample footage, and
  quiet scenes made from it in which people appear now and then) run gated and ungated; the
  share of frames whose inference the gate skipped, and the share of the ungated run's person
  alerts the gated run also raised (same channel, within 1 s, box IoU ≥ 0.3).
- ``channels``: 5-fps channels the gated pipeline sustains on that mix (frames/s incl. decode ÷ 5);
  ``baseline_channels``: the same for the naive one-process-per-camera ultralytics
  ``model.track(source=rtsp_url, stream=True)`` loop, run live against the sample RTSP server
  (``baseline_live_channels``: how many such processes actually kept 5 fps side by side).
- ``rss_mb_per_channel``: resident memory the analytics worker adds per continuous channel,
  measured on the live worker (``xueliang analytics run``) with 1 and with K cameras.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xueliang.settings import REPO_ROOT

SAMPLE = REPO_ROOT / "samples" / "vtest_480x360_g10.h264"
FPS = 5.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("analytics", help="raw model vs pipeline, gating, channels vs the naive ultralytics loop, RSS")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="reduced run (under a minute on an idle box)")
    parser.add_argument("--batch", type=int, default=8, help="inference batch size")
    parser.add_argument("--imgsz", type=int, default=0, help="0 = native frame size ≤ 640, as the worker runs")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the naive ultralytics processes")
    parser.set_defaults(func=_run)


@dataclass(frozen=True)
class Plan:
    pipeline_channels: int
    pipeline_frames: int  # per channel
    mix_busy: int
    mix_quiet: int
    mix_seconds: float
    burst_period_s: float
    burst_s: float
    raw_reps: int  # batches per raw slice
    rounds: int  # alternating raw/pipeline slices
    baseline_seconds: float
    baseline_max_procs: int
    rss_channels: int
    rss_seconds: float


QUICK = Plan(pipeline_channels=4, pipeline_frames=2, mix_busy=1, mix_quiet=3, mix_seconds=16.0, burst_period_s=16.0,
             burst_s=2.0, raw_reps=1, rounds=3, baseline_seconds=6.0, baseline_max_procs=1, rss_channels=3, rss_seconds=3.0)
FULL = Plan(pipeline_channels=8, pipeline_frames=3, mix_busy=2, mix_quiet=6, mix_seconds=60.0, burst_period_s=60.0,
            burst_s=6.0, raw_reps=3, rounds=6, baseline_seconds=20.0, baseline_max_procs=3, rss_channels=6, rss_seconds=15.0)


# -- decode -------------------------------------------------------------------------------------------------------
class LoopingDecoder:
    """Decodes the sample file forever at 5 of its 10 fps (every frame decoded, every 2nd converted, like ingest)."""

    def __init__(self, path: Path, start: int) -> None:
        import av

        self._av = av
        self.path = path
        self._open()
        for _ in range(start):
            self.next()

    def _open(self) -> None:
        self._container = self._av.open(str(self.path))
        self._frames = self._container.decode(video=0)
        self._n = 0

    def next(self) -> np.ndarray:
        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                self._container.close()
                self._open()
                continue
            self._n += 1
            if self._n % 2 == 0:
                return frame.to_ndarray(format="bgr24")


def _camera(cid: str) -> dict[str, Any]:
    return {
        "id": cid,
        "zones": [{"id": "all", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]}],
        "rules": [{"id": "person-in-view", "kind": "zone_intrusion", "zone": "all", "classes": ["person"], "cooldown_s": 30}],
    }


def _channel(detector, cid: str, gate: bool):
    from analytics.pipeline import ChannelAnalysis

    ch = ChannelAnalysis.for_camera(_camera(cid), detector.names, gate=gate, fps=FPS)
    ch.detector_classes = {0}
    return ch


# -- measurements -------------------------------------------------------------------------------------------------
def measure_raw_and_pipeline(detector, footage: list[np.ndarray], plan: Plan, batch: int) -> dict[str, float]:
    """Raw ``session.run`` throughput and full-pipeline throughput, measured in alternating slices.

    The box is shared: measuring one after the other lets a neighbour's load land on one side
    only. Alternating short slices and taking the median of the per-round ratios cancels most of it.
    """
    from analytics.pipeline import FrameIn, Pipeline

    blob, _ = detector.preprocess(footage[:batch])
    blob = blob.copy()
    pipe = Pipeline(detector, batch)
    channels = [_channel(detector, f"p{i}", gate=True) for i in range(plan.pipeline_channels)]
    decoders = [LoopingDecoder(SAMPLE, start=37 * i) for i in range(plan.pipeline_channels)]
    detector.run_raw(blob)  # warm-up both paths
    items = [FrameIn(ch, dec.next(), 0.0) for ch, dec in zip(channels, decoders)]
    pipe.complete(items, [True] * len(items))
    raw_fps: list[float] = []
    pipe_fps: list[float] = []
    raw_cpu: list[float] = []  # images per CPU-second
    pipe_cpu: list[float] = []
    decode_s = 0.0
    decoded = 0
    step = 0
    for _round in range(plan.rounds):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(plan.raw_reps):
            detector.run_raw(blob)
        raw_fps.append(batch * plan.raw_reps / (time.perf_counter() - t))
        raw_cpu.append(batch * plan.raw_reps / (time.process_time() - c))
        t, c = time.perf_counter(), time.process_time()
        frames = 0
        for _ in range(plan.pipeline_frames):
            step += 1
            items = []
            for ch, dec in zip(channels, decoders):
                d0 = time.process_time()
                image = dec.next()
                decode_s += time.process_time() - d0
                decoded += 1
                items.append(FrameIn(ch, image, step / FPS))
            for item in items:
                pipe.gate(item)  # the gate's cost is paid; its verdict is ignored so every frame is inferred
            pipe.complete(items, [True] * len(items))
            frames += len(items)
        pipe_fps.append(frames / (time.perf_counter() - t))
        pipe_cpu.append(frames / (time.process_time() - c))
    return {
        "raw_fps_wall": float(np.median(raw_fps)),
        "pipeline_fps_wall": float(np.median(pipe_fps)),
        "pipeline_vs_raw_wall": float(np.median([p / r for p, r in zip(pipe_fps, raw_fps)])),
        "raw_per_cpu_s": float(np.median(raw_cpu)),
        "pipeline_per_cpu_s": float(np.median(pipe_cpu)),
        "pipeline_vs_raw": float(np.median([p / r for p, r in zip(pipe_cpu, raw_cpu)])),
        "decode_s": decode_s / max(decoded, 1),
    }


def build_mix(footage: list[np.ndarray], plan: Plan) -> list[list[tuple[np.ndarray, bool]]]:
    """Per channel, the frames of the mix: ``mix_busy`` footage channels, ``mix_quiet`` quiet-with-bursts ones."""
    from analytics.scenes import empty_background, quiet_with_bursts

    n = int(plan.mix_seconds * FPS)
    bg = empty_background(footage)
    mix: list[list[tuple[np.ndarray, bool]]] = []
    for i in range(plan.mix_busy):
        start = 53 * i
        mix.append([(footage[(start + k) % len(footage)], True) for k in range(n)])
    for i in range(plan.mix_quiet):
        offset = (plan.burst_period_s / max(plan.mix_quiet, 1)) * i
        mix.append(list(quiet_with_bursts(bg, footage, n, FPS, plan.burst_period_s, plan.burst_s, offset, seed=i + 1)))
    return mix


def run_mix(detector, mix, batch: int, gate: bool) -> tuple[float, list[tuple[int, float, list[float]]], int, int]:
    """Run the mix; returns (CPU seconds, person alerts (channel, ts, box), frames, frames skipped)."""
    from analytics.pipeline import FrameIn, Pipeline

    pipe = Pipeline(detector, batch)
    channels = [_channel(detector, f"m{i}", gate=gate) for i in range(len(mix))]
    alerts: list[tuple[int, float, list[float]]] = []
    n = len(mix[0])
    t0 = time.process_time()
    for k in range(n):
        ts = k / FPS
        items = [FrameIn(ch, mix[c][k][0], ts) for c, ch in enumerate(channels)]
        for c, result in enumerate(pipe.process(items)):
            alerts += [(c, e.ts, e.boxes[0]) for e in result.events]
    elapsed = time.process_time() - t0  # CPU seconds
    frames = sum(ch.counters.frames for ch in channels)
    skipped = sum(ch.counters.skipped for ch in channels)
    return elapsed, alerts, frames, skipped


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def alert_recall(reference, candidate, window_s: float = 1.0, min_iou: float = 0.3) -> float:
    if not reference:
        return 1.0
    found = 0
    for c, ts, box in reference:
        if any(c2 == c and abs(ts2 - ts) <= window_s and _iou(box, box2) >= min_iou for c2, ts2, box2 in candidate):
            found += 1
    return found / len(reference)


def measure_worker_rss(plan: Plan) -> dict[str, Any]:
    """Live worker (``xueliang analytics run``) on 1 and on K sample cameras: RSS and analysed fps."""
    import psutil
    import redis  # noqa: F401  (the worker needs it; fail early with a clear import error)

    from xueliang.runtime import EmbeddedRedis, RtspSampleServer, SampleMount, spawn, stop

    k = plan.rss_channels
    names = [f"cam{i + 1:02d}" for i in range(k)]
    results: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        with RtspSampleServer([SampleMount(n, SAMPLE, fps=10) for n in names], log_path=tmp / "rtsp.log") as server, \
                EmbeddedRedis(tmp / "redis", persist=False) as rds:
            for count in (1, k):
                cams = tmp / f"cameras-{count}.yaml"
                cams.write_text("version: 1\ncameras:\n" + "".join(
                    f"""  - id: {n}
    name: bench {n}
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    streams: {{main: "{server.url(n)}"}}
    analysis: {{mode: continuous, fps: 5, detector_classes: [person]}}
    zones: [{{id: all, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}]
    rules: [{{id: person-in-view, kind: zone_intrusion, zone: all}}]
""" for n in names[:count]), encoding="utf-8")
                log = tmp / f"worker-{count}.log"
                proc = spawn([sys.executable, "-m", "xueliang.cli", "analytics", "run", "--cameras", str(cams), "--no-clips"],
                             env={"REDIS_URL": rds.url, "XUELIANG_DATA_DIR": str(tmp / "data")}, cwd=REPO_ROOT, log_path=log)
                try:
                    deadline = time.monotonic() + 120
                    while "analysing" not in log.read_text(errors="replace") and time.monotonic() < deadline:
                        if proc.poll() is not None:
                            raise RuntimeError(f"analytics worker exited: {log.read_text(errors='replace')[-2000:]}")
                        time.sleep(0.5)
                    started = time.monotonic()
                    time.sleep(3.0)  # first batches: the inference arena reaches its batch size
                    ps = psutil.Process(proc.pid)
                    rss = []
                    t_end = time.monotonic() + plan.rss_seconds
                    while time.monotonic() < t_end and proc.poll() is None:
                        rss.append(ps.memory_info().rss / 2**20)
                        time.sleep(1.0)
                finally:
                    stop(proc, timeout=15)
                    ran_s = time.monotonic() - started
                summary = _last_summary(log.read_text(errors="replace"))
                results[count] = (float(max(rss)) if rss else 0.0, summary.get("frames", 0) / count / ran_s)
    rss1, rssk = results[1][0], results[k][0]
    return {
        "rss_mb_per_channel": round((rssk - rss1) / (k - 1), 1) if k > 1 else round(rss1, 1),
        "worker_rss_mb": {"1": round(rss1, 1), str(k): round(rssk, 1)},
        # Live check: analysed frames/s per camera the worker reached with K busy sample cameras.
        "worker_live_fps_per_channel": round(results[k][1], 2),
        "worker_live_channels": k,
    }


def _last_summary(log: str) -> dict[str, Any]:
    import ast

    for line in reversed(log.splitlines()):
        if "analytics worker stopped:" in line:
            return ast.literal_eval(line.split("analytics worker stopped:", 1)[1].strip())
    return {}


def run_bench(quick: bool, batch: int, imgsz: int, skip_baseline: bool = False) -> dict[str, Any]:
    from analytics.detector import Detector
    from analytics.models import ensure_onnx
    from xueliang.settings import Settings

    plan = QUICK if quick else FULL
    detector = Detector(ensure_onnx(Settings().models_dir), imgsz=imgsz)
    footage = []
    dec = LoopingDecoder(SAMPLE, 0)
    for _ in range(398):
        footage.append(dec.next())

    load_start = os.getloadavg()[0]
    rp = measure_raw_and_pipeline(detector, footage, plan, batch)
    decode_s = rp["decode_s"]

    mix = build_mix(footage, plan)
    t_gated, gated_alerts, frames, skipped = run_mix(detector, mix, batch, gate=True)
    _t_ungated, ungated_alerts, _, _ = run_mix(detector, mix, batch, gate=False)
    cores = os.cpu_count() or 1
    # Frames per CPU-second (decode is not in the pre-generated mix: its measured cost is added),
    # scaled to the box's cores: the capacity if the box ran only this worker.
    mix_fps = frames / (t_gated + frames * decode_s) * cores
    channels = int(mix_fps // FPS)

    out: dict[str, Any] = {
        "raw_fps": round(rp["raw_per_cpu_s"] * cores, 2),
        "pipeline_fps": round(rp["pipeline_per_cpu_s"] * cores, 2),
        "pipeline_vs_raw": round(rp["pipeline_vs_raw"], 3),
        "raw_fps_wall": round(rp["raw_fps_wall"], 2),
        "pipeline_fps_wall": round(rp["pipeline_fps_wall"], 2),
        "pipeline_vs_raw_wall": round(rp["pipeline_vs_raw_wall"], 3),
        "gating_skip_ratio": round(skipped / frames, 3),
        "gated_recall": round(alert_recall(ungated_alerts, gated_alerts), 3),
        "channels": channels,
        "mix_fps": round(mix_fps, 2),
        "person_alerts_ungated": len(ungated_alerts),
        "person_alerts_gated": len(gated_alerts),
    }
    if skip_baseline:
        out.update({"baseline_channels": None, "ratio_vs_naive": None})
    else:
        base = measure_baseline(plan, cores)
        out.update(base)
        out["ratio_vs_naive"] = round(channels / base["baseline_channels"], 2) if base["baseline_channels"] else None
    out.update(measure_worker_rss(plan))
    out.update({
        "batch": batch,
        "imgsz": imgsz,
        "mix": {"busy_channels": plan.mix_busy, "quiet_channels": plan.mix_quiet, "seconds": plan.mix_seconds,
                "burst_s": plan.burst_s, "burst_period_s": plan.burst_period_s},
        "decode_ms_per_frame": round(decode_s * 1000, 2),
        "cpu_count": os.cpu_count(),
        "loadavg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],  # start, end: the box is shared
        "quick": quick,
    })
    return out


def measure_baseline(plan: Plan, cores: int) -> dict[str, Any]:
    """Naive processes against the sample RTSP server: k = 1, 2, ... until one cannot keep 5 fps."""
    from xueliang.runtime import RtspSampleServer, SampleMount, spawn, stop

    names = [f"cam{i + 1:02d}" for i in range(plan.baseline_max_procs)]
    per_k: dict[int, list[float]] = {}
    per_cpu_s = 0.0
    with tempfile.TemporaryDirectory() as tmp, RtspSampleServer(
        [SampleMount(n, SAMPLE, fps=10) for n in names], log_path=Path(tmp) / "rtsp.log"
    ) as server:
        for k in range(1, plan.baseline_max_procs + 1):
            procs = []
            try:
                for name in names[:k]:
                    procs.append(spawn(
                        [sys.executable, "-m", "analytics.baseline_naive", "--url", server.url(name),
                         "--seconds", str(plan.baseline_seconds), "--weights", str(REPO_ROOT / "models" / "yolov8n.pt")],
                        cwd=REPO_ROOT, capture_stdout=True))
                fps = []
                for p in procs:
                    out, _ = p.communicate(timeout=plan.baseline_seconds + 180)
                    lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
                    res = json.loads(lines[-1]) if lines else {"fps": 0.0, "frames": 0, "cpu_s": 0.0}
                    fps.append(res["fps"])
                    if k == 1 and res["cpu_s"] > 0:
                        per_cpu_s = res["frames"] / res["cpu_s"]
            finally:
                for p in procs:
                    stop(p)
            per_k[k] = fps
            if min(fps) < FPS * 0.95:
                break
    sustained = [k for k, fps in per_k.items() if min(fps) >= FPS * 0.95]
    return {
        # Same basis as ``channels``: results per CPU-second of one naive process, scaled to the cores.
        "baseline_channels": round(per_cpu_s * cores / FPS, 2),
        "baseline_live_channels": float(max(sustained)) if sustained else round(per_k[1][0] / FPS, 2),
        "baseline_fps_by_procs": {str(k): v for k, v in per_k.items()},
    }


def _run(args: argparse.Namespace) -> int:
    result = run_bench(args.quick, args.batch, args.imgsz, args.skip_baseline)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0
