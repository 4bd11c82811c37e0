"""`xueliang models export`: ultralytics export of the shipped weights, cached, never downloaded."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from analytics import Detector
from xueliang.settings import REPO_ROOT

from .conftest import MODEL_PT, SAMPLE_480, decode_frames


@pytest.mark.slow  # ≈ 45 s of torch export on the shared box
def test_export_creates_a_dynamic_onnx_equal_to_the_shipped_one(tmp_path):
    weights = tmp_path / "yolov8n.pt"
    shutil.copy(MODEL_PT, weights)
    cmd = [sys.executable, "-m", "xueliang.cli", "models", "export", "--weights", str(weights)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0",
                               "YOLO_CONFIG_DIR": str(tmp_path / "cfg"), "PYTHONPATH": str(REPO_ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    onnx = tmp_path / "yolov8n.onnx"
    assert done.stdout.strip().endswith(str(onnx)) and onnx.exists()
    frames = decode_frames(SAMPLE_480, every=300, limit=2)
    fresh = Detector(onnx).detect(frames)  # dynamic batch of 2
    shipped = Detector(REPO_ROOT / "models" / "yolov8n.onnx").detect(frames)
    for a, b in zip(fresh, shipped):
        assert len(a) == len(b) and np.abs(np.sort(a.xyxy, 0) - np.sort(b.xyxy, 0)).max(initial=0) < 0.5
    # --if-missing keeps the cached export
    mtime = onnx.stat().st_mtime_ns
    again = subprocess.run([*cmd, "--if-missing"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and onnx.stat().st_mtime_ns == mtime


def test_export_without_weights_says_they_are_never_downloaded(tmp_path):
    done = subprocess.run([sys.executable, "-m", "xueliang.cli", "models", "export", "--weights", str(tmp_path / "yolov8n.pt")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "never downloaded" in done.stderr
