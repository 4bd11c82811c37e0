"""Video-quality diagnosis scored on faults made by an independent tool: FFmpeg's own filters.

The project's generator (devices/health/degrade.py) tuned the thresholds, so its 1.00/1.00 says
little by itself. Here every clip is cut from the sample footage and degraded by an FFmpeg filter
graph nobody here wrote, encoded to H.264 and decoded by PyAV like a camera stream: the first
3 s are clean (the analyzer learns the scene), the fault starts at t = 3 s (FFmpeg's timeline
``enable``), and the faults reported after the last sample are the prediction. Clips with FFmpeg
sensor noise are clean clips: nothing may be reported on them.

Run with ``-s`` to see the per-fault table (the README quotes it).
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from devices.health import VideoQualityAnalyzer
from xueliang.settings import REPO_ROOT

SOURCE = REPO_ROOT / "samples" / "vtest.avi"  # 480×360, 10 fps, 79.5 s
CLIP_S = 6.0
FAULT_AT_S = 3.0
STEP = 5  # frames between samples: 2 samples a second, 6 clean then 6 degraded
STARTS = (2.0, 22.0, 42.0, 62.0)
ON = f"enable='gte(t,{FAULT_AT_S})'"

# label -> FFmpeg video filter graph (the fault from t = 3 s; "clean" clips carry only nuisances)
FILTERS: dict[str, str] = {
    "clean": "noise=alls=12:allf=t",                                       # sensor noise is not a fault
    "blur": f"boxblur=luma_radius=6:luma_power=2:chroma_radius=6:{ON}",
    "too_dark": f"eq=brightness=-0.45:contrast=0.5:{ON}",
    "overexposed": f"eq=brightness=0.55:contrast=1.6:{ON}",
    "colour_cast": f"colorchannelmixer=rr=1.0:gg=0.55:bb=0.35:{ON}",
    "occlusion": f"drawbox=x=0:y=0:w=iw*0.65:h=ih:color=0x303030@1:t=fill:{ON}",
    "signal_loss": f"drawbox=x=0:y=0:w=iw:h=ih:color=black@1:t=fill:{ON}",
    "scene_changed": f"hflip=enable='gte(t,{FAULT_AT_S})'",
    # a stuck camera: the first 3 s, then the last picture repeated (FFmpeg's tpad clone)
    "frozen": f"trim=0:{FAULT_AT_S},setpts=PTS-STARTPTS,tpad=stop_mode=clone:stop_duration={CLIP_S - FAULT_AT_S}",
}


@dataclass(frozen=True)
class Clip:
    label: str
    start_s: float
    predicted: frozenset[str]


def _make_clip(label: str, start_s: float, out_dir: Path) -> Path:
    path = out_dir / f"{label}-{start_s:g}.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{start_s}", "-t", f"{CLIP_S}", "-i", str(SOURCE),
         "-vf", FILTERS[label], "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "10", "-bf", "0",
         "-pix_fmt", "yuv420p", "-an", str(path)],
        check=True, timeout=120,
    )
    return path


def _diagnose(path: Path, label: str, start_s: float) -> Clip:
    analyzer = VideoQualityAnalyzer()
    result = None
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % STEP == 0:
                result = analyzer.analyze(frame.to_ndarray(format="bgr24"))
    assert result is not None, f"{path} decoded no frame"
    return Clip(label, start_s, frozenset(str(f) for f in result.faults))


def _score(clips: list[Clip]) -> dict[str, tuple[float, float]]:
    table: dict[str, tuple[float, float]] = {}
    for fault in (label for label in FILTERS if label != "clean"):
        tp = sum(1 for c in clips if c.label == fault and fault in c.predicted)
        fp = sum(1 for c in clips if c.label != fault and fault in c.predicted)
        fn = sum(1 for c in clips if c.label == fault and fault not in c.predicted)
        table[fault] = (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)
    return table


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Clip]:
    out_dir = tmp_path_factory.mktemp("vqd-ffmpeg")
    jobs = [(label, start) for label in FILTERS for start in STARTS]
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda job: _make_clip(job[0], job[1], out_dir), jobs))
    return [_diagnose(path, label, start) for path, (label, start) in zip(paths, jobs, strict=True)]


def test_clean_clips_with_ffmpeg_noise_raise_nothing(clips: list[Clip]) -> None:
    false_alarms = [(c.start_s, sorted(c.predicted)) for c in clips if c.label == "clean" and c.predicted]
    assert false_alarms == []


def test_ffmpeg_made_faults_are_found(clips: list[Clip]) -> None:
    table = _score(clips)
    print("\nVQD on FFmpeg-made faults (4 clips per fault + 4 noisy clean clips):")
    for fault, (precision, recall) in table.items():
        print(f"  {fault:14s} precision {precision:.2f}  recall {recall:.2f}")
    misses = {c.label: sorted(c.predicted) for c in clips if c.label != "clean" and c.label not in c.predicted}
    assert all(recall >= 0.8 and precision >= 0.8 for precision, recall in table.values()), (table, misses)


def test_the_fault_really_is_in_the_pixels(tmp_path: Path) -> None:
    """Guard against a filter graph that silently does nothing: the faulted half differs from the clean half."""
    path = _make_clip("too_dark", STARTS[0], tmp_path)
    with av.open(str(path)) as container:
        luma = [float(np.mean(f.to_ndarray(format="gray"))) for f in container.decode(video=0)]
    half = int(FAULT_AT_S * 10)
    assert np.mean(luma[half + 2:]) < 0.5 * np.mean(luma[:half])
