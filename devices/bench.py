"""``xueliang bench devices [--json] [--quick]``: registry scale and video-quality diagnosis figures.

The registry is measured in a fresh child process so ``rss_mb`` is the honest peak
resident size of a process that loads the file (interpreter and libraries included),
not a delta hidden inside an already-warm process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_CHILD = r"""
import json, random, sys, time
import numpy as np
from devices import load_registry
def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec() from the forking parent.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
path, seed = sys.argv[1], 1
rss_before = peak_rss_mb()
t0, c0 = time.perf_counter(), time.process_time()
reg = load_registry(path)
load_s, load_cpu_s = time.perf_counter() - t0, time.process_time() - c0
rng = random.Random(seed)
codes = sorted({c.jurisdiction for c in reg})
tags = sorted({t for c in reg for t in c.tags})
def lat(fn, n=200):
    xs = []
    for _ in range(n):
        a = time.perf_counter(); r = fn(); len(r); xs.append((time.perf_counter() - a) * 1000)
    return {"p50": round(float(np.percentile(xs, 50)), 4), "p95": round(float(np.percentile(xs, 95)), 4)}
def box():
    la, lo = rng.uniform(27.5, 28.0), rng.uniform(120.4, 120.9)
    return (la, lo, la + 0.05, lo + 0.05)
queries = {
    "jurisdiction_county": lat(lambda: reg.in_jurisdiction("330381")),
    "jurisdiction_township": lat(lambda: reg.in_jurisdiction(rng.choice(codes)[:9])),
    "jurisdiction_village": lat(lambda: reg.in_jurisdiction(rng.choice(codes)[:12])),
    "tag": lat(lambda: reg.with_tag(rng.choice(tags))),
    "kind": lat(lambda: reg.of_kind(rng.choice(["fixed", "ptz", "drone", "4g_terminal"]))),
    "box": lat(lambda: reg.in_box(*box())),
    "combined": lat(lambda: reg.query(jurisdiction=rng.choice(codes)[:9], tags=[rng.choice(tags)], kind="fixed", box=(27.5, 120.3, 28.1, 121.0))),
    "radius_2km": lat(lambda: reg.within_radius(rng.uniform(27.6, 27.9), rng.uniform(120.5, 120.8), 2000)),
}
print(json.dumps({"channels": len(reg), "load_s": round(load_s, 3), "load_cpu_s": round(load_cpu_s, 3),
                  "rss_mb": peak_rss_mb(), "rss_before_load_mb": rss_before, "queries": queries}))
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("devices", help="camera registry at county scale (load, RSS, queries, reload) and VQD precision/recall")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="3,000 channels and fewer VQD clips (smoke run)")
    parser.add_argument("--channels", type=int, default=None, help="registry size (default 30000, quick 3000)")
    parser.add_argument("--clips", type=int, default=None, help="VQD clips per fault label (default 20, quick 4)")
    parser.add_argument("--sweep", action="store_true", help="also measure detection rate against fault severity")
    parser.set_defaults(func=run)


def _registry_figures(channels: int, workdir: Path) -> dict[str, object]:
    from devices.registry import RegistryError, RegistryWatcher
    from devices.registry.generate import generate_registry_yaml

    path = workdir / "cameras.yaml"
    t0 = time.perf_counter()
    text = generate_registry_yaml(channels)
    path.write_text(text, encoding="utf-8")
    generate_s = time.perf_counter() - t0
    child = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=600, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"registry benchmark child failed:\n{child.stderr[-3000:]}")
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    figures["query_ms_p95"] = max(q["p95"] for q in figures["queries"].values())
    figures["file_mb"] = round(len(text.encode()) / 1e6, 1)
    figures["generate_s"] = round(generate_s, 3)

    # Hot reload: one channel's stream changes; then a bad edit is rejected with its line.
    watcher = RegistryWatcher(path)
    edited = text.replace("Streaming/Channels/101\n", "Streaming/Channels/103\n", 1)
    _rewrite(path, edited)
    t0 = time.perf_counter()
    diff = watcher.check()
    figures["reload_s"] = round(time.perf_counter() - t0, 3)
    figures["reload_diff"] = {k: len(v) for k, v in diff.as_dict().items()} if diff else None
    errors: list[RegistryError] = []
    watcher._on_error = errors.append  # noqa: SLF001 - measuring the rejection path
    _rewrite(path, edited.replace("lat: 27.", "lat: 97.", 1))
    t0 = time.perf_counter()
    watcher.check()
    figures["bad_edit_rejected_s"] = round(time.perf_counter() - t0, 3)
    figures["bad_edit_problem"] = errors[0].problems[0] if errors else None
    figures["kept_channels_after_bad_edit"] = len(watcher.current)
    return figures


def _rewrite(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _vqd_figures(clips: int) -> dict[str, object]:
    import numpy as np

    from devices.health import VideoQualityAnalyzer
    from devices.health.evaluate import read_frames, run_clips, score
    from xueliang.settings import REPO_ROOT

    frames = read_frames(REPO_ROOT / "samples" / "vtest.avi")
    t0 = time.perf_counter()
    report = score(run_clips(frames, clips_per_label=clips, seed=7))
    eval_s = time.perf_counter() - t0
    analyzer = VideoQualityAnalyzer()
    times = []
    for f in frames[:200]:
        a = time.perf_counter()
        analyzer.analyze(f)
        times.append((time.perf_counter() - a) * 1000)
    return {
        "vqd": {fault: {"precision": v["precision"], "recall": v["recall"]} for fault, v in report.items()},
        "vqd_counts": report,
        "vqd_clips_per_fault": clips,
        "vqd_eval_s": round(eval_s, 2),
        "vqd_ms_per_frame_p50": round(float(np.percentile(times, 50)), 2),
        "vqd_frame_size": list(frames[0].shape[:2]),
    }


def run(args: argparse.Namespace) -> int:
    channels = args.channels or (3000 if args.quick else 30000)
    clips = args.clips or (4 if args.quick else 20)
    with tempfile.TemporaryDirectory(prefix="xl-bench-devices-") as tmp:
        result: dict[str, Any] = _registry_figures(channels, Path(tmp))
    result.update(_vqd_figures(clips))
    if args.sweep:
        from devices.health.evaluate import read_frames, sweep
        from xueliang.settings import REPO_ROOT

        result["vqd_sweep"] = sweep(read_frames(REPO_ROOT / "samples" / "vtest.avi"))
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    result["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"registry: {result['channels']} channels ({result['file_mb']} MB): load {result['load_s']} s "
          f"(CPU {result['load_cpu_s']} s), peak RSS {result['rss_mb']} MB, query p95 <= {result['query_ms_p95']} ms")
    for name, q in result["queries"].items():
        print(f"  {name:<24} p50 {q['p50']:.3f} ms  p95 {q['p95']:.3f} ms")
    print(f"reload (1 channel changed): {result['reload_s']} s, diff {result['reload_diff']}")
    print(f"bad edit rejected in {result['bad_edit_rejected_s']} s, kept {result['kept_channels_after_bad_edit']} channels: {result['bad_edit_problem']}")
    print(f"VQD ({clips} clips per fault, {result['vqd_ms_per_frame_p50']} ms/frame):")
    for fault, pr in result["vqd"].items():
        print(f"  {fault:<14} precision {pr['precision']:.3f}  recall {pr['recall']:.3f}")
    for fault, row in result.get("vqd_sweep", {}).items():
        print(f"  sweep {fault:<12} " + ", ".join(f"{k}={v}" for k, v in row.items()))
    print(f"(load average {result['loadavg_1m']} on {result['cpus']} CPUs)")
    return 0
