"""INT8 detector model: ONNX Runtime static quantisation calibrated on sample footage, checked against float.

Quantising the whole YOLOv8 graph zeroes every class score: the Detect head (``/model.22/``)
concatenates box coordinates (hundreds of pixels) and class scores (0..1) into one tensor,
and one INT8 scale cannot hold both. The head's nodes therefore stay in float; the backbone
and neck (almost all the compute) run in INT8 (QDQ format, per-channel weights).

:func:`compare` runs both models on the same frames: box agreement (a confident float
detection matched by an INT8 one of the same class at IoU ≥ 0.5), per-class recall, mean
box difference in pixels, and raw images per CPU-second measured side by side.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analytics.detector import Detector, Detections

HEAD_PREFIX = "/model.22/"
CALIBRATION_FRAMES = 20
IMGSZ = 640


def int8_path_for(float_model: Path) -> Path:
    return float_model.with_name(float_model.stem + "-int8.onnx")


def sample_frames(path: Path, n: int, skip: int = 0) -> list[np.ndarray]:
    """``n`` BGR frames spread evenly over the sample (after ``skip`` frames)."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    frames = frames[skip:]
    if len(frames) < n:
        raise ValueError(f"{path} has {len(frames)} frames after skipping {skip}; {n} needed")
    step = len(frames) // n
    return [frames[i * step] for i in range(n)]


class _Calibration:
    """Feeds letterboxed frames (exactly as the detector preprocesses them) to the calibrator."""

    def __init__(self, detector: Detector, frames: Sequence[np.ndarray], input_name: str) -> None:
        self._blobs: Iterator[np.ndarray] = iter([detector.preprocess([f])[0].copy() for f in frames])
        self._name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._blobs, None)
        return None if blob is None else {self._name: blob}

    def rewind(self) -> None:  # called by some ONNX Runtime versions; one pass is enough here
        pass


def quantize_int8(float_model: Path, frames: Sequence[np.ndarray], out: Path | None = None) -> Path:
    """Write the INT8 model (head kept in float) next to ``float_model``; returns its path."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    out = out or int8_path_for(float_model)
    model = onnx.load(str(float_model))
    head = [n.name for n in model.graph.node if n.name.startswith(HEAD_PREFIX)]
    if not head:
        raise ValueError(f"{float_model}: no {HEAD_PREFIX} nodes; this quantiser expects an ultralytics YOLOv8 export")
    detector = Detector(float_model, imgsz=IMGSZ)
    reader = _Calibration(detector, frames, model.graph.input[0].name)
    CalibrationDataReader.register(_Calibration)
    tmp = out.with_suffix(".tmp.onnx")
    quantize_static(str(float_model), str(tmp), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=head)
    # The class names and stride travel in metadata_props; the quantiser does not copy them.
    q = onnx.load(str(tmp))
    del q.metadata_props[:]
    q.metadata_props.extend(model.metadata_props)
    onnx.save(q, str(out))
    tmp.unlink(missing_ok=True)
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


@dataclass(frozen=True)
class Agreement:
    box_agreement: float  # confident float detections matched by INT8 (same class, IoU ≥ 0.5)
    per_class_recall: dict[str, float]
    mean_box_diff_px: float  # mean |Δ| of the matched boxes' coordinates
    reference_boxes: int


def agreement(reference: Sequence[Detections], candidate: Sequence[Detections], min_conf: float = 0.5,
              iou: float = 0.5) -> Agreement:
    matched = total = 0
    per_class: dict[str, list[int]] = {}
    diffs: list[float] = []
    for ref, cand in zip(reference, candidate):
        keep = ref.conf >= min_conf
        r_xyxy, r_cls = ref.xyxy[keep], ref.cls[keep]
        used: set[int] = set()
        ious = _iou(r_xyxy, cand.xyxy) if len(r_xyxy) and len(cand) else np.zeros((len(r_xyxy), 0))
        for i in np.argsort(-ref.conf[keep]):
            name = ref.names.get(int(r_cls[i]), str(int(r_cls[i])))
            hit = per_class.setdefault(name, [0, 0])
            hit[1] += 1
            total += 1
            best, best_iou = -1, iou
            for j in range(ious.shape[1]):
                if j not in used and cand.cls[j] == r_cls[i] and ious[i, j] >= best_iou:
                    best, best_iou = j, ious[i, j]
            if best >= 0:
                used.add(best)
                matched += 1
                hit[0] += 1
                diffs.append(float(np.abs(r_xyxy[i] - cand.xyxy[best]).mean()))
    return Agreement(matched / total if total else 1.0, {k: v[0] / v[1] for k, v in sorted(per_class.items())},
                     float(np.mean(diffs)) if diffs else 0.0, total)


def raw_speed(float_det: Detector, int8_det: Detector, frames: Sequence[np.ndarray], rounds: int = 3,
              batch: int = 4) -> dict[str, float]:
    """Images per CPU-second of ``session.run`` for both models, in alternating slices on the same blob."""
    import psutil

    me = psutil.Process()
    blob = float_det.preprocess(list(frames[:batch]))[0].copy()
    for det in (float_det, int8_det):
        det.run_raw(blob)  # warm-up: allocations and kernels chosen for this shape
    cpu = {"float": 0.0, "int8": 0.0}
    wall = {"float": 0.0, "int8": 0.0}
    n = {"float": 0, "int8": 0}
    for _ in range(rounds):
        for name, det in (("float", float_det), ("int8", int8_det)):
            c0, t0 = sum(me.cpu_times()[:2]), time.perf_counter()
            for _ in range(2):
                det.run_raw(blob)
            cpu[name] += sum(me.cpu_times()[:2]) - c0
            wall[name] += time.perf_counter() - t0
            n[name] += 2 * batch
    cores = os.cpu_count() or 1
    fps = {k: n[k] / max(cpu[k], 1e-6) * cores for k in cpu}
    return {"float_raw_fps": round(fps["float"], 2), "int8_raw_fps": round(fps["int8"], 2),
            "int8_vs_float_raw_fps": round(fps["int8"] / fps["float"], 3),
            "int8_vs_float_raw_fps_wall": round((n["int8"] / wall["int8"]) / (n["float"] / wall["float"]), 3)}


def compare(float_model: Path, int8_model: Path, frames: Sequence[np.ndarray], rounds: int = 3) -> dict[str, Any]:
    """Accuracy and speed of ``int8_model`` against ``float_model`` on ``frames`` (at 640, as ultralytics)."""
    f_det = Detector(float_model, imgsz=IMGSZ)
    q_det = Detector(int8_model, imgsz=IMGSZ)
    ref = [f_det.detect([f])[0] for f in frames]
    cand = [q_det.detect([f])[0] for f in frames]
    acc = agreement(ref, cand)
    return {**raw_speed(f_det, q_det, frames, rounds), "int8_box_agreement": round(acc.box_agreement, 3),
            "int8_per_class_recall": {k: round(v, 3) for k, v in acc.per_class_recall.items()},
            "int8_mean_box_diff_px": round(acc.mean_box_diff_px, 2), "int8_reference_boxes": acc.reference_boxes,
            "int8_frames": len(frames)}


def compare_saved(models_dir: Path | None = None, frames: int = 12, rounds: int = 2) -> dict[str, Any]:
    """:func:`compare` for the exported model and its INT8 variant when both exist (else nulls)."""
    from xueliang.settings import REPO_ROOT, Settings

    models_dir = models_dir or Settings().models_dir
    float_model = models_dir / "yolov8n.onnx"
    int8_model = int8_path_for(float_model)
    if not (float_model.exists() and int8_model.exists()):
        return {"int8_vs_float_raw_fps": None, "int8_box_agreement": None,
                "int8": f"no {int8_model.name}: run `xueliang models quantize`"}
    # Held-out frames: the calibration used frames spread over the 640×360 sample; check on the 480×360 one.
    held_out = sample_frames(REPO_ROOT / "samples" / "vtest_480x360_g10.h264", frames, skip=5)
    return compare(float_model, int8_model, held_out, rounds)
