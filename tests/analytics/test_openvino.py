"""The optional OpenVINO backend (`pip install 'xueliang[openvino]'`): the same ONNX file, the same
boxes as ONNX Runtime on real frames. Skipped where the extra is not installed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.analytics.conftest import MODEL_ONNX, SAMPLE_480, SAMPLE_640, decode_frames


@pytest.fixture(scope="module")
def detectors():
    pytest.importorskip("openvino")
    from analytics import Detector

    return {b: Detector(MODEL_ONNX, imgsz=0, backend=b) for b in ("onnxruntime", "openvino")}


@pytest.mark.parametrize("sample", [SAMPLE_480, SAMPLE_640], ids=["480x360", "640x360"])
def test_openvino_gives_the_boxes_of_onnxruntime_on_real_frames(detectors, sample):
    frames = decode_frames(sample, every=25, limit=8)  # people in every one of them
    ort, ov = (detectors[b].detect(frames) for b in ("onnxruntime", "openvino"))
    assert detectors["openvino"].names == detectors["onnxruntime"].names, "class names from the ONNX metadata"
    assert sum(len(d) for d in ort) >= 20
    for a, b in zip(ort, ov):
        assert len(a) == len(b)
        assert np.array_equal(a.cls, b.cls)
        assert np.abs(a.xyxy - b.xyxy).max(initial=0.0) <= 2.0
        assert np.abs(a.conf - b.conf).max(initial=0.0) <= 0.01


def test_backend_is_chosen_on_the_command_line_and_an_unknown_one_is_refused():
    import argparse

    from analytics import Detector, bench
    from analytics import cli as analytics_cli

    worker_cli = argparse.ArgumentParser()
    analytics_cli.register(worker_cli.add_subparsers())
    assert worker_cli.parse_args(["analytics", "run", "--backend", "openvino"]).backend == "openvino"
    assert worker_cli.parse_args(["analytics", "run"]).backend == "onnxruntime"
    bench_cli = argparse.ArgumentParser()
    bench.register(bench_cli.add_subparsers())
    assert bench_cli.parse_args(["analytics", "--quick", "--backend", "openvino"]).backend == "openvino"
    with pytest.raises(SystemExit):
        worker_cli.parse_args(["analytics", "run", "--backend", "tensorrt"])
    with pytest.raises(ValueError, match="onnxruntime, openvino"):
        Detector(MODEL_ONNX, backend="tensorrt")
