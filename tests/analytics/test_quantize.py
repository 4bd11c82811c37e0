"""INT8 quantisation of the shipped YOLOv8n on real sample footage, checked against the float model."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.detector import Detections
from analytics.quantize import agreement, compare, quantize_int8, sample_frames
from tests.analytics.conftest import MODEL_ONNX, SAMPLE_480, SAMPLE_640


def _det(boxes, cls, conf) -> Detections:
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(conf, np.float32),
                      np.asarray(cls, np.int32), {0: "person", 2: "car"})


def test_agreement_matches_class_and_iou():
    ref = [_det([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], [0, 0, 2], [0.9, 0.8, 0.3])]
    # first box: same class, 1 px off; second: wrong class; third: below min_conf, not counted
    cand = [_det([[1, 0, 11, 10], [20, 20, 40, 40]], [0, 2], [0.9, 0.8])]
    a = agreement(ref, cand)
    assert a.reference_boxes == 2 and a.box_agreement == 0.5
    assert a.per_class_recall == {"person": 0.5} and a.mean_box_diff_px == pytest.approx(0.5)


def test_int8_model_keeps_the_head_in_float_and_agrees_with_float(tmp_path):
    import onnx

    out = quantize_int8(MODEL_ONNX, sample_frames(SAMPLE_640, 8), tmp_path / "yolov8n-int8.onnx")
    model = onnx.load(str(out))
    ops = {n.op_type for n in model.graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {i.name for i in model.graph.initializer}
    producer = {o: n.op_type for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    head = [n for n in convs if n.name.startswith("/model.22/")]
    body = [n for n in convs if not n.name.startswith("/model.22/")]
    assert head and all(n.input[1] in inits for n in head), "a Detect-head convolution lost its float weights"
    assert body and all(producer.get(n.input[1]) == "DequantizeLinear" for n in body), "backbone not in INT8"
    assert {p.key for p in model.metadata_props} >= {"names", "stride"}
    report = compare(MODEL_ONNX, out, sample_frames(SAMPLE_480, 6, skip=5), rounds=1)
    assert report["int8_reference_boxes"] >= 10
    assert report["int8_box_agreement"] >= 0.9, report
    assert report["int8_per_class_recall"]["person"] >= 0.9, report
    assert report["int8_mean_box_diff_px"] < 3.0, report
    assert report["int8_vs_float_raw_fps"] > 0  # the speed ratio is reported, not asserted: the box is shared
