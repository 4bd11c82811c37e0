"""Fixtures for analytics tests: decoded real frames of the sample footage, the shared detector."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from xueliang.settings import REPO_ROOT

SAMPLE_480 = REPO_ROOT / "samples" / "vtest_480x360_g10.h264"
SAMPLE_640 = REPO_ROOT / "samples" / "vtest_640x360_g10.h264"
MODEL_ONNX = REPO_ROOT / "models" / "yolov8n.onnx"
MODEL_PT = REPO_ROOT / "models" / "yolov8n.pt"


def decode_frames(path: Path, every: int = 1, limit: int | None = None, start: int = 0) -> list[np.ndarray]:
    """BGR frames ``start, start+every, ...`` of an Annex-B H.264 sample (10 fps footage)."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start or (i - start) % every:
                continue
            frames.append(frame.to_ndarray(format="bgr24"))
            if limit is not None and len(frames) >= limit:
                break
    return frames


@pytest.fixture(scope="session")
def detector():
    """At imgsz 640, as ultralytics' ``predict`` (the accuracy-equivalence reference)."""
    from analytics import Detector

    return Detector(MODEL_ONNX)


@pytest.fixture(scope="session")
def native_detector():
    """As the worker runs it: each frame at its own size (≤ 640), no upscaling."""
    from analytics import Detector

    return Detector(MODEL_ONNX, imgsz=0)


@pytest.fixture(scope="session")
def sample_frames_5fps() -> list[np.ndarray]:
    """The whole 480×360 sample at 5 fps (every second frame of the 10 fps footage): 398 frames."""
    return decode_frames(SAMPLE_480, every=2)
