"""Alert evidence image: the frame with the alert's boxes and a Chinese label drawn, as JPEG.

Labels are drawn with Pillow in a CJK font (fonts-wqy-zenhei, installed by scripts/setup.sh):
OpenCV's Hershey fonts have no Chinese glyphs. Without the font the label falls back to ASCII.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from PIL import ImageFont

ALERT_COLOUR = (0, 0, 255)  # BGR red
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)

# The operator reads these on the evidence: rule kinds and detector classes in zh-CN.
RULE_LABELS = {
    "zone_intrusion": "区域入侵", "tripwire": "越线", "loitering": "徘徊", "crowd": "人员聚集", "fall": "倒地",
    "abandoned_object": "遗留物", "illegal_parking": "违停", "onvif_event": "设备告警",
}
CLASS_LABELS = {
    "person": "行人", "car": "汽车", "truck": "货车", "bus": "公交车", "motorcycle": "摩托车", "bicycle": "自行车",
    "backpack": "背包", "handbag": "手提包", "suitcase": "行李箱",
}


def alert_label(rule_kind: str, object_class: str, confidence: float) -> str:
    """"区域入侵 行人 0.82"."""
    return f"{RULE_LABELS.get(rule_kind, rule_kind)} {CLASS_LABELS.get(object_class, object_class)} {confidence:.2f}"


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | None:
    from PIL import ImageFont

    for path in CJK_FONTS:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return None


def _draw_label(img: np.ndarray, text: str, x: int, y: int) -> np.ndarray:
    size = max(12, round(img.shape[0] / 24))
    font = _font(size)
    if font is None or text.isascii():
        cv2.putText(img, text, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, ALERT_COLOUR, 1, cv2.LINE_AA)
        return img
    from PIL import Image, ImageDraw

    pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(pil)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left, bottom - top
    y0 = y - h - 6 if y - h - 6 >= 0 else y + 2
    x0 = min(max(0, x), max(0, img.shape[1] - w - 4))
    draw.rectangle((x0, y0, x0 + w + 4, y0 + h + 4), fill=(200, 0, 0))  # white on red, legible on any scene
    draw.text((x0 + 2 - left, y0 + 2 - top), text, font=font, fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


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
        img = _draw_label(img, label, int(boxes[0][0]), int(boxes[0][1]))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for a {img.shape} frame")
    return buf.tobytes()
