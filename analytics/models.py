"""The shipped YOLO weights and their ONNX export (ultralytics does the export; nothing is downloaded)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "yolov8n.pt"
EXPORT_ARGS = {"format": "onnx", "dynamic": True, "simplify": False, "opset": 17}


def onnx_path_for(weights: Path) -> Path:
    return weights.with_suffix(".onnx")


def export_onnx(weights: Path, *, if_missing: bool = False) -> Path:
    """Export ``weights`` (ultralytics ``.pt``) to ``.onnx`` next to it, with a dynamic batch and shape.

    With ``if_missing`` an existing export is kept. Raises ``FileNotFoundError`` when the
    weights are absent: they ship with the repository and are never downloaded.
    """
    target = onnx_path_for(weights)
    if if_missing and target.exists():
        log.info("%s exists; not exporting", target)
        return target
    if not weights.exists():
        raise FileNotFoundError(f"weights {weights} not found; they ship in models/ (see models/SOURCES.md), never downloaded")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    from ultralytics import YOLO

    exported = Path(YOLO(str(weights)).export(**EXPORT_ARGS))
    if exported.resolve() != target.resolve():
        shutil.move(str(exported), target)
    log.info("exported %s -> %s", weights, target)
    return target


def ensure_onnx(models_dir: Path, weights_name: str = DEFAULT_WEIGHTS) -> Path:
    """The ONNX model for ``weights_name``, exporting it once if it is not cached yet."""
    return export_onnx(models_dir / weights_name, if_missing=True)
