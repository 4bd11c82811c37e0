"""analytics: motion gating, cross-channel batched YOLO (ONNX Runtime), tracking, rules, evidence.

Public API (other packages import only from here)::

    from analytics import Detector, Detections, MotionGate, Tracker, Pipeline, build_rules
"""

from analytics.detector import Detection, Detections, Detector
from analytics.gate import GateConfig, GateResult, MotionGate
from analytics.models import ensure_onnx, export_onnx
from analytics.pipeline import Analysed, ChannelAnalysis, FrameIn, Pipeline
from analytics.rules import RuleConfigError, RuleEvent, Scene, build_rules
from analytics.snapshot import render_snapshot
from analytics.tracking import Track, Tracker

__all__ = [
    "Analysed",
    "ChannelAnalysis",
    "Detection",
    "Detections",
    "Detector",
    "FrameIn",
    "GateConfig",
    "GateResult",
    "MotionGate",
    "Pipeline",
    "RuleConfigError",
    "RuleEvent",
    "Scene",
    "Track",
    "Tracker",
    "build_rules",
    "ensure_onnx",
    "export_onnx",
    "render_snapshot",
]
