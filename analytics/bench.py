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
- ``openvino_vs_onnxruntime``: the same model file on OpenVINO vs ONNX Runtime, ``run_raw`` alone on the
  same batch in alternating slices (``null`` when the optional ``openvino`` extra is not installed);
  ``--backend openvino`` runs the pipeline and the live worker on OpenVINO.
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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analytics.detector import BACKENDS, Detections, Detector, FrameDetector
from devices import Camera
from xueliang.settings import REPO_ROOT

if TYPE_CHECKING:
    from xueliang.runtime import RtspSampleServer

SAMPLE = REPO_ROOT / "samples" / "vtest_480x360_g10.h264"
FPS = 5.0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("analytics", help="raw model vs pipeline, gating, channels vs the naive ultralytics loop, RSS")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="reduced run, the CI-sized check (≈ 30 s on the shared 2-core box)")
    parser.add_argument("--batch", type=int, default=8, help="inference batch size")
    parser.add_argument("--imgsz", type=int, default=0, help="0 = native frame size ≤ 640, as the worker runs")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the naive ultralytics processes")
    parser.add_argument("--backend", choices=BACKENDS, default="onnxruntime",
                        help="detector runtime of the pipeline and the live worker (openvino: optional extra)")
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
    rss_warm_s: float = 3.0  # after cameras are added, before RSS is sampled: batches reach their size


QUICK = Plan(pipeline_channels=4, pipeline_frames=2, mix_busy=1, mix_quiet=3, mix_seconds=16.0, burst_period_s=16.0,
             burst_s=2.0, raw_reps=1, rounds=3, baseline_seconds=4.0, baseline_max_procs=1, rss_channels=3, rss_seconds=2.0,
             rss_warm_s=1.5)
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


def _camera(cid: str) -> Camera:
    return Camera.model_validate({
        "id": cid, "name": cid, "jurisdiction": "330381", "position": {"lat": 29.9, "lon": 121.6},
        "streams": {"main": f"rtsp://127.0.0.1/{cid}"}, "analysis": {"mode": "continuous", "fps": FPS},
        "zones": [{"id": "all", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]}],
        "rules": [{"id": "person-in-view", "kind": "zone_intrusion", "zone": "all", "classes": ["person"], "cooldown_s": 30}],
    })


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


def openvino_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def measure_backends(detectors: dict[str, Detector], blob: np.ndarray, plan: Plan) -> dict[str, Any]:
    """``run_raw`` of ONNX Runtime and OpenVINO on the same preprocessed batch, in alternating slices
    (the same model file; both already compiled for this input shape). Images per CPU-second × cores,
    and the median per-slice ratio OpenVINO ÷ ONNX Runtime."""
    cores = os.cpu_count() or 1
    cpu: dict[str, list[float]] = {name: [] for name in detectors}
    wall: dict[str, list[float]] = {name: [] for name in detectors}
    n = blob.shape[0] * plan.raw_reps
    for _round in range(plan.rounds):
        for name, det in detectors.items():
            t, c = time.perf_counter(), time.process_time()
            for _ in range(plan.raw_reps):
                det.run_raw(blob)
            wall[name].append(n / (time.perf_counter() - t))
            cpu[name].append(n / (time.process_time() - c))
    ov, ort = cpu["openvino"], cpu["onnxruntime"]
    return {
        "openvino_raw_fps": round(float(np.median(ov)) * cores, 2),
        "onnxruntime_raw_fps": round(float(np.median(ort)) * cores, 2),
        "openvino_vs_onnxruntime": round(float(np.median([a / b for a, b in zip(ov, ort)])), 3),
        "openvino_raw_fps_wall": round(float(np.median(wall["openvino"])), 2),
        "onnxruntime_raw_fps_wall": round(float(np.median(wall["onnxruntime"])), 2),
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


class MemoDetector:
    """Remembers each frame's detections (keyed by the frame object) for a later run over the same
    frames. ONNX Runtime's output for a frame does not depend on what else is in the batch (checked:
    bit-identical boxes), so the ungated reference run can reuse what the gated run inferred and
    infer only the frames the gate skipped. ``reuse=False`` records only: every frame is inferred,
    so a run whose CPU time is measured does exactly its own work."""

    def __init__(self, detector: FrameDetector, memo: dict[int, Detections], reuse: bool) -> None:
        self.detector, self.memo, self.reuse, self.names = detector, memo, reuse, detector.names

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        todo = [f for f in frames if not (self.reuse and id(f) in self.memo)]
        for f, d in zip(todo, self.detector.detect(todo) if todo else []):
            self.memo[id(f)] = d
        return [self.memo[id(f)] for f in frames]


def run_mix(detector: FrameDetector, mix, batch: int, gate: bool, memo: dict[int, Detections] | None = None, reuse: bool = False
            ) -> tuple[float, list[tuple[int, float, list[float]]], int, int]:
    """Run the mix; returns (CPU seconds, person alerts (channel, ts, box), frames, frames skipped).

    ``memo`` (id of a frame of ``mix`` → its detections) is filled as frames are inferred; with
    ``reuse`` a frame found there is not inferred again (the CPU time is then not a figure)."""
    from analytics.pipeline import FrameIn, Pipeline

    pipe = Pipeline(MemoDetector(detector, memo, reuse) if memo is not None else detector, batch)
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


class LiveWorker:
    """The live analytics worker (``xueliang analytics run``) the RSS figures are measured on.

    It is started with no cameras, so its start-up (torch, ONNX Runtime session) runs while the
    bench does unmeasured work; cameras are then added by rewriting its ``cameras.yaml`` and
    sending SIGHUP (reload now, log the counters), so one process serves the 1- and K-camera
    points instead of two cold starts.
    """

    def __init__(self, tmp: Path, server: RtspSampleServer, redis_url: str, backend: str = "onnxruntime") -> None:
        from xueliang.runtime import spawn

        self.server = server
        self.cameras = tmp / "cameras.yaml"
        self.log = tmp / "worker.log"
        self._write([])
        # INFO: the bench reads the worker's "analysing" and counter lines from its log.
        self.proc = spawn([sys.executable, "-m", "xueliang.cli", "--log-level", "INFO", "analytics", "run",
                           "--cameras", str(self.cameras), "--no-clips", "--backend", backend],
                          env={"REDIS_URL": redis_url, "XUELIANG_DATA_DIR": str(tmp / "data")}, cwd=REPO_ROOT,
                          log_path=self.log)

    def _write(self, names: list[str]) -> None:
        body = "".join(f"""  - id: {n}
    name: bench {n}
    jurisdiction: "330381101201"
    position: {{lat: 27.78, lon: 120.65}}
    streams: {{main: "{self.server.url(n)}"}}
    analysis: {{mode: continuous, fps: 5, detector_classes: [person]}}
    zones: [{{id: all, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}}]
    rules: [{{id: person-in-view, kind: zone_intrusion, zone: all}}]
""" for n in names)
        tmp = self.cameras.with_suffix(".tmp")
        tmp.write_text("version: 1\ncameras:" + ("\n" + body if names else " []\n"), encoding="utf-8")
        os.replace(tmp, self.cameras)  # a new inode: the worker's watcher sees the change at once

    def _text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, needle: str, count: int = 1, timeout: float = 120.0) -> str:
        """Wait until ``needle`` appears ``count`` times in the log; returns the log."""
        deadline = time.monotonic() + timeout
        while True:
            text = self._text()
            if text.count(needle) >= count:
                return text
            if self.proc.poll() is not None:
                raise RuntimeError(f"analytics worker exited: {text[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"analytics worker: no {needle!r} within {timeout:.0f}s: {text[-2000:]}")
            time.sleep(0.05)

    def wait_ready(self) -> None:
        self.wait_for("analysing 0 cameras")

    def counters(self) -> tuple[float, dict[str, Any]]:
        """The worker's counters via SIGHUP, with the time it took them (its log line's timestamp)."""
        import ast
        import signal
        from datetime import datetime

        needle = "analytics (on request):"
        n = self._text().count(needle)
        self.proc.send_signal(signal.SIGHUP)
        line = [ln for ln in self.wait_for(needle, n + 1).splitlines() if needle in ln][n]
        at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # the log format's asctime
        return at, ast.literal_eval(line.split(needle, 1)[1].strip())

    def set_cameras(self, names: list[str]) -> None:
        self._write(names)
        self.counters()  # SIGHUP: reload now
        for n in names:
            self.wait_for(f"camera {n}: started")

    def measure(self, names: list[str], plan: Plan) -> dict[str, Any]:
        """RSS with 1 camera and with K (= ``len(names)``); analysed fps per camera with K."""
        import psutil

        ps = psutil.Process(self.proc.pid)

        def peak_rss() -> float:
            rss = []
            t_end = time.monotonic() + plan.rss_seconds
            while time.monotonic() < t_end and self.proc.poll() is None:
                rss.append(ps.memory_info().rss / 2**20)
                time.sleep(0.25)
            return float(max(rss)) if rss else 0.0

        k = len(names)
        self.set_cameras(names[:1])
        time.sleep(plan.rss_warm_s)  # first batches: the inference arena reaches its batch size
        rss1 = peak_rss()
        self.set_cameras(names)
        time.sleep(plan.rss_warm_s)
        t0, c0 = self.counters()  # from here on every camera is connected and streaming
        rssk = peak_rss()
        t1, c1 = self.counters()
        self.proc.terminate()  # it stops its readers meanwhile; close() waits
        return {
            "rss_mb_per_channel": round((rssk - rss1) / (k - 1), 1) if k > 1 else round(rss1, 1),
            "worker_rss_mb": {"1": round(rss1, 1), str(k): round(rssk, 1)},
            # Live check: analysed frames/s per camera the worker reached with K busy sample cameras.
            "worker_live_fps_per_channel": round((c1["frames"] - c0["frames"]) / k / (t1 - t0), 2),
            "worker_live_channels": k,
        }

    def close(self) -> None:
        from xueliang.runtime import stop

        stop(self.proc, timeout=15)


class NaiveProcess:
    """One naive baseline process (``analytics.baseline_naive --wait-signal``): it loads, says READY,
    opens its stream on SIGUSR1, says STREAMING, and runs its timed loop on the next SIGUSR1."""

    def __init__(self, url: str, seconds: float) -> None:
        import queue
        import threading

        from xueliang.runtime import spawn

        self.proc = spawn([sys.executable, "-m", "analytics.baseline_naive", "--url", url, "--seconds", str(seconds),
                           "--weights", str(REPO_ROOT / "models" / "yolov8n.pt"), "--wait-signal"],
                          cwd=REPO_ROOT, capture_stdout=True)
        # ultralytics prints to stdout too: lines are read by a thread, never by select() on a buffered pipe.
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, name="naive-stdout", daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None  # spawned with capture_stdout=True
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, word: str, timeout: float = 180.0) -> None:
        import queue

        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"naive baseline process: no {word} within {timeout:.0f}s") from None
            if line is None:
                raise RuntimeError(f"naive baseline process exited (code {self.proc.wait()}) before {word}")
            if line.strip() == word:
                return

    def signal(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGUSR1)

    def result(self, timeout: float) -> dict[str, Any]:
        """The timed loop's JSON line (zeros if it printed none)."""
        import queue

        res = {"fps": 0.0, "frames": 0, "cpu_s": 0.0}
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return res
            if line is None:
                return res
            if line.startswith("{"):
                res = json.loads(line)

    def stop(self) -> None:
        import subprocess

        from xueliang.runtime import stop

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._pump_thread.join(5)  # it reads to EOF before the pipe is closed under it
        stop(self.proc)


def measure_baseline(plan: Plan, cores: int, server: RtspSampleServer, first: list[NaiveProcess] | None = None) -> dict[str, Any]:
    """Naive processes against the sample RTSP server: k = 1, 2, ... until one cannot keep 5 fps.

    Each round's k processes load and open their streams first (``first``: round 1's, started
    earlier and already STREAMING), then their timed loops are released together, so what is
    timed is the loops alone, side by side."""

    names = [f"cam{i + 1:02d}" for i in range(plan.baseline_max_procs)]
    per_k: dict[int, list[float]] = {}
    per_cpu_s = 0.0
    for k in range(1, plan.baseline_max_procs + 1):
        procs = list(first) if k == 1 and first else []
        try:
            if not procs:
                procs = [NaiveProcess(server.url(name), plan.baseline_seconds) for name in names[:k]]
                for p in procs:
                    p.wait_line("READY")
                for p in procs:
                    p.signal()  # open the streams
                for p in procs:
                    p.wait_line("STREAMING")
            for p in procs:
                p.signal()  # all k timed loops start together
            fps = []
            for p in procs:
                res = p.result(timeout=plan.baseline_seconds + 180)
                fps.append(res["fps"])
                if k == 1 and res["cpu_s"] > 0:
                    per_cpu_s = res["frames"] / res["cpu_s"]
        finally:
            for p in procs:
                p.stop()
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


def decode_sample(n: int = 398) -> list[np.ndarray]:
    """The first ``n`` frames of the sample at 5 fps (398: all of it), decoded once for every part of the bench."""
    dec = LoopingDecoder(SAMPLE, 0)
    return [dec.next() for _ in range(n)]


def run_bench(quick: bool, batch: int, imgsz: int, skip_baseline: bool = False, backend: str = "onnxruntime") -> dict[str, Any]:
    """Every figure from one run. Order matters on a 2-core box:

    1. start the live side (RTSP server, Redis, the worker with no cameras, the first naive process
       up to READY): their start-ups (torch imports, model loads) overlap step 2;
    2. unmeasured work: load the detector, decode the sample once, build the mix;
    3. wait until every child is idle, then the measured parts one after the other, each alone:
       raw vs pipeline, the gated mix (CPU time); then the ungated mix (only its alerts are used;
       it reuses the gated run's detections) while the first naive process opens its stream;
       then the naive baseline's timed loop, and the live worker.
    """
    from contextlib import ExitStack

    from analytics.detector import Detector
    from analytics.models import ensure_onnx
    from xueliang.runtime import EmbeddedRedis, RtspSampleServer, SampleMount
    from xueliang.settings import Settings

    plan = QUICK if quick else FULL
    cores = os.cpu_count() or 1
    names = [f"cam{i + 1:02d}" for i in range(max(plan.rss_channels, plan.baseline_max_procs))]
    with tempfile.TemporaryDirectory() as tmp_s, ExitStack() as stack:
        tmp = Path(tmp_s)
        server = stack.enter_context(RtspSampleServer([SampleMount(n, SAMPLE, fps=10) for n in names],
                                                      log_path=tmp / "rtsp.log"))
        rds = stack.enter_context(EmbeddedRedis(tmp / "redis", persist=False))
        worker = LiveWorker(tmp, server, rds.url, backend)
        stack.callback(worker.close)
        naive_first: list[NaiveProcess] = []
        if not skip_baseline:
            naive_first.append(NaiveProcess(server.url(names[0]), plan.baseline_seconds))
            stack.callback(naive_first[0].stop)

        model = ensure_onnx(Settings().models_dir)
        detector = Detector(model, imgsz=imgsz, backend=backend)
        footage = decode_sample()
        mix = build_mix(footage, plan)
        backends: dict[str, Detector] = {}
        if openvino_available():  # the other backend too, compiled for the batch's shape before timing
            backends = {b: detector if b == backend else Detector(model, imgsz=imgsz, backend=b) for b in BACKENDS}
            blob = backends["onnxruntime"].preprocess(footage[:batch])[0].copy()
            for det in backends.values():
                det.run_raw(blob)

        worker.wait_ready()
        for p in naive_first:
            p.wait_line("READY")
        load_start = os.getloadavg()[0]
        rp = measure_raw_and_pipeline(detector, footage, plan, batch)
        decode_s = rp["decode_s"]
        by_backend = measure_backends(backends, blob, plan) if backends else {
            "openvino_raw_fps": None, "onnxruntime_raw_fps": None, "openvino_vs_onnxruntime": None,
            "openvino_raw_fps_wall": None, "onnxruntime_raw_fps_wall": None}  # openvino not installed (optional extra)
        backends.clear()
        memo: dict[int, Detections] = {}
        t_gated, gated_alerts, frames, skipped = run_mix(detector, mix, batch, gate=True, memo=memo)
        for p in naive_first:  # its RTSP probing and first result happen during the untimed reference run
            p.signal()
        # The reference run is not timed: it reuses the gated run's detections and infers the rest.
        _, ungated_alerts, _, _ = run_mix(detector, mix, batch, gate=False, memo=memo, reuse=True)
        del memo
        for p in naive_first:
            p.wait_line("STREAMING")
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
            "backend": backend,
            **by_backend,
        }
        if skip_baseline:
            out.update({"baseline_channels": None, "ratio_vs_naive": None})
        else:
            base = measure_baseline(plan, cores, server, first=naive_first)
            out.update(base)
            out["ratio_vs_naive"] = round(channels / base["baseline_channels"], 2) if base["baseline_channels"] else None
        out.update(worker.measure(names[:plan.rss_channels], plan))
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


def _run(args: argparse.Namespace) -> int:
    if args.backend == "openvino" and not openvino_available():
        print("error: --backend openvino needs the optional extra: pip install 'xueliang[openvino]'", file=sys.stderr)
        return 2
    result = run_bench(args.quick, args.batch, args.imgsz, args.skip_baseline, args.backend)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0
