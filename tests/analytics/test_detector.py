"""ONNX Runtime detector ≡ ultralytics' own predictions on real frames of the sample footage."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import Detector
from analytics.detector import nms_xyxy, rect_input_shape

from .conftest import MODEL_ONNX, MODEL_PT, SAMPLE_480, SAMPLE_640, decode_frames


def _sorted(xyxy: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((xyxy[:, 1], xyxy[:, 0], cls))
    return xyxy[order], cls[order]


@pytest.fixture(scope="module")
def ultralytics_model():
    from ultralytics import YOLO

    return YOLO(str(MODEL_PT))


@pytest.mark.parametrize("sample", [SAMPLE_480, SAMPLE_640], ids=["480x360", "640x360"])
def test_onnx_batch_matches_ultralytics_predict(detector: Detector, ultralytics_model, sample):
    # Frames spread over the whole clip, run as one cross-"channel" batch of 6.
    frames = decode_frames(sample, every=130, limit=6)
    ours = detector.detect(frames)
    assert len(ours) == len(frames)
    total = 0
    for frame, det in zip(frames, ours):
        ref = ultralytics_model.predict(frame, verbose=False)[0].boxes
        ref_xyxy, ref_cls = ref.xyxy.numpy(), ref.cls.numpy().astype(int)
        assert len(det) == len(ref_cls), f"{len(det)} boxes vs ultralytics {len(ref_cls)}"
        a_xyxy, a_cls = _sorted(det.xyxy, det.cls)
        b_xyxy, b_cls = _sorted(ref_xyxy, ref_cls)
        assert (a_cls == b_cls).all(), "classes differ from ultralytics"
        assert np.abs(a_xyxy - b_xyxy).max(initial=0) <= 0.01, "boxes differ from ultralytics by more than 0.01 px"
        np.testing.assert_allclose(np.sort(det.conf), np.sort(ref.conf.numpy()), atol=0.01)
        total += len(det)
    assert total >= 6 * 3, "the sample footage has pedestrians in every frame; too few detections"
    assert any((d.cls == 0).sum() >= 3 for d in ours)


def test_mixed_resolutions_in_one_call_equal_separate_calls(detector: Detector):
    a = decode_frames(SAMPLE_480, every=200, limit=2)
    b = decode_frames(SAMPLE_640, every=200, limit=2)
    mixed = detector.detect([a[0], b[0], a[1], b[1]])
    for frame, got in zip([a[0], b[0], a[1], b[1]], mixed):
        alone = detector.detect([frame])[0]
        assert len(alone) == len(got)
        np.testing.assert_allclose(got.xyxy, alone.xyxy, atol=1e-3)


def test_rect_shape_and_nms_semantics():
    assert rect_input_shape(360, 480, 640) == (480, 640)
    assert rect_input_shape(360, 640, 640) == (384, 640)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = nms_xyxy(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.5)
    assert keep.tolist() == [0, 2]


def test_missing_model_error_says_how_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="xueliang models export"):
        Detector(tmp_path / "nope.onnx")


def test_model_metadata_gives_class_names(detector: Detector):
    assert detector.names[0] == "person" and detector.class_id("car") == 2
    assert MODEL_ONNX.exists()


def test_detections_iterate_as_objects_with_class_names(detector: Detector):
    frame = decode_frames(SAMPLE_480, every=1, limit=1)[0]
    dets = detector.detect([frame])[0]
    objects = list(dets)
    assert len(objects) == len(dets) and any(d.class_name == "person" for d in objects)
    assert all(len(d.xyxy) == 4 and 0 < d.confidence <= 1 for d in objects)
    people = dets.select(dets.cls == 0)
    assert {d.class_name for d in people} == {"person"}
