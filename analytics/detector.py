"""Batched YOLO detection on ONNX Runtime: letterbox → one ``session.run`` → vectorised decode + NMS.

Frames of several channels (any sizes) go through one inference call. Preprocessing
mirrors ultralytics' ``LetterBox`` (rect shapes rounded to the stride, grey 114 padding,
the same rounding of the pad) so the boxes equal ultralytics' own predictions; it writes
into buffers allocated once per input shape, so steady-state detection allocates no
full-size image arrays.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

PAD_VALUE = 114
BACKENDS = ("onnxruntime", "openvino")  # openvino: optional extra (`pip install 'xueliang[openvino]'`)
MAX_WH = 7680  # class offset for batched NMS, as ultralytics does
MAX_NATIVE = 640  # imgsz=0: the frame's own size, but never more than the model's training size


@dataclass(frozen=True)
class Detection:
    """One detected object (for callers that want objects rather than arrays)."""

    xyxy: tuple[float, float, float, float]
    confidence: float
    cls: int
    class_name: str


@dataclass(frozen=True)
class Detections:
    """Detections of one frame, in that frame's pixel coordinates (arrays: cheap to filter in bulk).

    Iterating yields :class:`Detection` objects.
    """

    xyxy: np.ndarray  # (N, 4) float32
    conf: np.ndarray  # (N,) float32
    cls: np.ndarray  # (N,) int32
    names: Mapping[int, str] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return int(self.conf.shape[0])

    def __iter__(self) -> Iterator[Detection]:
        for box, conf, cls in zip(self.xyxy.tolist(), self.conf.tolist(), self.cls.tolist()):
            yield Detection(tuple(box), conf, cls, self.names.get(cls, str(cls)))

    @staticmethod
    def empty(names: Mapping[int, str] | None = None) -> "Detections":
        return Detections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int32), names or {})

    def select(self, mask: np.ndarray) -> "Detections":
        return Detections(self.xyxy[mask], self.conf[mask], self.cls[mask], self.names)


@dataclass(frozen=True)
class _Geometry:
    scale: float
    new_w: int
    new_h: int
    left: int
    top: int


def _letterbox_geometry(h: int, w: int, out_h: int, out_w: int) -> _Geometry:
    """Same arithmetic as ``ultralytics.data.augment.LetterBox`` (center=True, scaleup=True)."""
    r = min(out_h / h, out_w / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (out_w - new_w) / 2, (out_h - new_h) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    return _Geometry(r, new_w, new_h, left, top)


def rect_input_shape(h: int, w: int, imgsz: int, stride: int = 32) -> tuple[int, int]:
    """The minimal stride-aligned input (h, w) ultralytics uses for a ``h×w`` frame at ``imgsz`` (rect mode)."""
    r = min(imgsz / h, imgsz / w)
    new_h, new_w = int(round(h * r)), int(round(w * r))
    return int(np.ceil(new_h / stride) * stride), int(np.ceil(new_w / stride) * stride)


def analysis_size(width: int, height: int, imgsz: int) -> tuple[int, int]:
    """The (width, height) a ``width×height`` frame is resized to before letterboxing at ``imgsz``
    (0: native, at most :data:`MAX_NATIVE`): what a reader can deliver instead of the full frame."""
    side = imgsz if imgsz > 0 else min(MAX_NATIVE, max(width, height))
    r = min(side / height, side / width, 1.0)  # never upscaled: the detector would only interpolate
    return int(round(width * r)), int(round(height * r))


def nms_xyxy(boxes: np.ndarray, scores: np.ndarray, iou_thres: float) -> np.ndarray:
    """Greedy NMS (torchvision semantics: IoU > ``iou_thres`` suppresses), indices by descending score."""
    order = np.argsort(-scores, kind="stable")
    if order.size == 0:
        return order
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_thres]
    return np.asarray(keep, dtype=np.int64)


def _open_onnxruntime(model_path: Path, threads: int, providers: Sequence[str] | None
                      ) -> tuple[Callable[[np.ndarray], np.ndarray], Mapping[str, str], object]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # No busy-waiting between ops: the box runs readers, the gate and other services too,
    # and spinning threads would steal their CPU for a few percent of latency.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model_path), opts, providers=list(providers or ["CPUExecutionProvider"]))
    input_name = session.get_inputs()[0].name

    def run(blob: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: blob})[0]

    return run, session.get_modelmeta().custom_metadata_map, session


def _open_openvino(model_path: Path, threads: int) -> tuple[Callable[[np.ndarray], np.ndarray], Mapping[str, str], object]:
    """The same ONNX file read by OpenVINO's CPU plugin (no conversion step, nothing downloaded)."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise RuntimeError("the openvino backend needs the optional extra: pip install 'xueliang[openvino]' "
                           "(or pip install openvino); the default backend is onnxruntime") from exc
    core = ov.Core()
    model = core.read_model(str(model_path))
    meta: dict[str, str] = {}
    for key in ("names", "stride"):  # the exporter's ONNX metadata_props, kept by OpenVINO's ONNX reader
        try:
            meta[key] = model.get_rt_info(["framework", key]).astype(str)
        except Exception:  # noqa: BLE001 (absent key: the Detector's defaults apply, as with ONNX Runtime)
            pass
    compiled = core.compile_model(model, "CPU", {
        "INFERENCE_NUM_THREADS": threads,
        # f32, not the bf16 OpenVINO picks by default on CPUs with AVX512-BF16/AMX: the boxes must be
        # those of ONNX Runtime and ultralytics (±2 px), not a lower-precision variant.
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "ENABLE_CPU_PINNING": False,  # a shared box: do not pin threads to cores others use
    })
    request = compiled.create_infer_request()  # one per Detector: detect() is called from one thread

    def run(blob: np.ndarray) -> np.ndarray:
        request.infer({0: blob})
        return request.get_output_tensor(0).data.copy()  # the request's buffer is reused by the next call

    return run, meta, compiled


class FrameDetector(Protocol):
    """What the pipeline needs of a detector: class names and a batch call (:class:`Detector`, the
    cluster's remote and batching detectors, the benchmark's memoising wrapper)."""

    names: dict[int, str]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]: ...


class Detector:
    """YOLOv8 (ultralytics export, dynamic batch/shape) on ONNX Runtime (CPU by default), or on
    OpenVINO with ``backend="openvino"`` (optional extra; same ONNX file, same pre/postprocessing).

    ``detect(frames)`` runs all frames (BGR uint8, any sizes) in one inference call.
    ``imgsz=640`` is what ultralytics' ``predict`` uses; ``imgsz=0`` (the worker's default)
    analyses each frame at its native size, at most 640.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        imgsz: int = 640,
        conf_thres: float = 0.25,
        iou_thres: float = 0.7,
        max_det: int = 300,
        classes: Sequence[int] | None = None,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        backend: str = "onnxruntime",
    ) -> None:
        model_path = Path(model_path)
        if not model_path.exists():
            raise FileNotFoundError(
                f"ONNX model {model_path} not found; run `xueliang models export` (exports models/yolov8n.pt with ultralytics)"
            )
        n_threads = threads or int(os.environ.get("XUELIANG_ORT_THREADS", "0")) or (os.cpu_count() or 1)
        if backend == "onnxruntime":
            self._run, meta, self.session = _open_onnxruntime(model_path, n_threads, providers)
        elif backend == "openvino":
            self._run, meta, self.session = _open_openvino(model_path, n_threads)
        else:
            raise ValueError(f"unknown detector backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.names: dict[int, str] = ast.literal_eval(meta["names"]) if "names" in meta else {}
        self.stride = int(meta.get("stride", 32))
        self.imgsz = imgsz
        self.conf_thres = conf_thres
        self.iou_thres = iou_thres
        self.max_det = max_det
        self.classes = np.asarray(sorted(classes), np.int64) if classes is not None else None
        self._canvas: dict[tuple[int, int], np.ndarray] = {}
        self._blob: dict[tuple[int, int], np.ndarray] = {}

    def class_id(self, name: str) -> int:
        for k, v in self.names.items():
            if v == name:
                return k
        raise KeyError(f"class {name!r} not in model classes ({', '.join(list(self.names.values())[:10])}, ...)")

    # -- preprocessing -------------------------------------------------------------------------------------------
    def frame_imgsz(self, h: int, w: int) -> int:
        """Input long side for an ``h×w`` frame: ``imgsz``, or with ``imgsz=0`` ("native") the frame's
        own long side capped at ``MAX_NATIVE`` — a 480×360 sub-stream is not upscaled to 640, which
        costs 1.6× the compute for pixels that carry no extra detail."""
        return self.imgsz if self.imgsz > 0 else min(MAX_NATIVE, max(h, w))

    def shape_for(self, h: int, w: int) -> tuple[int, int]:
        return rect_input_shape(h, w, self.frame_imgsz(h, w), self.stride)

    def input_shape(self, frames: Sequence[np.ndarray]) -> tuple[int, int]:
        """One input (h, w) for the whole batch: the largest rect shape among the frames."""
        shapes = [self.shape_for(f.shape[0], f.shape[1]) for f in frames]
        return max(s[0] for s in shapes), max(s[1] for s in shapes)

    def _buffers(self, n: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        # Capacity grows to the largest batch seen for this shape, then is reused.
        canvas = self._canvas.get((h, w))
        if canvas is None or canvas.shape[0] < n:
            canvas = np.full((n, h, w, 3), PAD_VALUE, np.uint8)
            self._canvas[(h, w)] = canvas
            self._blob[(h, w)] = np.empty((n, 3, h, w), np.float32)
        return canvas, self._blob[(h, w)]

    def preprocess(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[_Geometry]]:
        h, w = self.input_shape(frames)
        n = len(frames)
        canvas, blob = self._buffers(n, h, w)
        geoms: list[_Geometry] = []
        for i, frame in enumerate(frames):
            g = _letterbox_geometry(frame.shape[0], frame.shape[1], h, w)
            canvas[i].fill(PAD_VALUE)
            if (g.new_w, g.new_h) != (frame.shape[1], frame.shape[0]):
                resized = cv2.resize(frame, (g.new_w, g.new_h), interpolation=cv2.INTER_LINEAR)
            else:
                resized = frame
            canvas[i, g.top : g.top + g.new_h, g.left : g.left + g.new_w] = resized
            geoms.append(g)
        out = blob[:n]
        # BGR→RGB, HWC→CHW and /255 in one pass into the preallocated float buffer.
        np.multiply(canvas[:n, :, :, ::-1].transpose(0, 3, 1, 2), np.float32(1 / 255), out=out)
        return out, geoms

    # -- postprocessing -----------------------------------------------------------------------------------------
    def postprocess(self, raw: np.ndarray, geoms: list[_Geometry], shapes: list[tuple[int, int]]) -> list[Detections]:
        preds = raw.transpose(0, 2, 1)  # (B, anchors, 4 + nc)
        results: list[Detections] = []
        for b, (g, (fh, fw)) in enumerate(zip(geoms, shapes)):
            p = preds[b]
            cls_scores = p[:, 4:]
            if self.classes is not None:
                cls_scores = cls_scores[:, self.classes]
            cls_idx = cls_scores.argmax(1)
            conf = cls_scores[np.arange(cls_scores.shape[0]), cls_idx]
            keep = conf > self.conf_thres
            if not keep.any():
                results.append(Detections.empty(self.names))
                continue
            xywh = p[keep, :4]
            conf = conf[keep]
            cls = cls_idx[keep] if self.classes is None else self.classes[cls_idx[keep]]
            xyxy = np.empty_like(xywh)
            xyxy[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
            xyxy[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
            offset = xyxy + (cls.astype(np.float32) * MAX_WH)[:, None]
            idx = nms_xyxy(offset, conf, self.iou_thres)[: self.max_det]
            xyxy, conf, cls = xyxy[idx], conf[idx], cls[idx]
            # Undo the letterbox (ultralytics scale_boxes: pad rounded like LetterBox), then clip to the frame.
            xyxy[:, [0, 2]] -= g.left
            xyxy[:, [1, 3]] -= g.top
            xyxy /= g.scale
            xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, fw)
            xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, fh)
            results.append(Detections(xyxy.astype(np.float32), conf.astype(np.float32), cls.astype(np.int32), self.names))
        return results

    # -- inference ----------------------------------------------------------------------------------------------
    def run_raw(self, blob: np.ndarray) -> np.ndarray:
        """The model alone on a preprocessed ``(B, 3, H, W)`` float32 blob: ``(B, 4 + classes, anchors)``."""
        return self._run(blob)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in every frame; boxes in each frame's pixels.

        Frames sharing an input shape (the usual case: sub-streams of one resolution) go
        through one ``session.run``; a batch mixing resolutions runs once per shape so
        every frame is letterboxed exactly as ultralytics would.
        """
        if not frames:
            return []
        groups: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(frames):
            groups.setdefault(self.shape_for(f.shape[0], f.shape[1]), []).append(i)
        out: list[Detections | None] = [None] * len(frames)
        for idx in groups.values():
            group = [frames[i] for i in idx]
            blob, geoms = self.preprocess(group)
            raw = self.run_raw(blob)
            for i, det in zip(idx, self.postprocess(raw, geoms, [(f.shape[0], f.shape[1]) for f in group])):
                out[i] = det
        return [d if d is not None else Detections.empty(self.names) for d in out]
