"""Alert evidence image: the frame with the alert's boxes drawn, as JPEG."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

ALERT_COLOUR = (0, 0, 255)  # BGR red


def render_snapshot(
    frame: np.ndarray,
    boxes: Sequence[Sequence[float]],
    label: str = "",
    polygon_px: np.ndarray | None = None,
    quality: int = 85,
) -> bytes:
    """JPEG of ``frame`` (BGR) with ``boxes`` (xyxy pixels), an optional zone outline and a label."""
    img = frame.copy()
    if polygon_px is not None:
        cv2.polylines(img, [polygon_px.astype(np.int32).reshape(-1, 1, 2)], True, (0, 255, 255), 1, cv2.LINE_AA)
    thickness = max(1, round(min(img.shape[:2]) / 240))
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), ALERT_COLOUR, thickness, cv2.LINE_AA)
    if label and boxes:
        x1, y1 = int(boxes[0][0]), int(boxes[0][1])
        cv2.putText(img, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, ALERT_COLOUR, 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for a {img.shape} frame")
    return buf.tobytes()
