"""Device health: per-channel status and video-quality diagnosis (视频质量诊断)."""

from devices.health.events import DEVICE_STATUS, LAST_FRAME_KEY, publish_status, status_event
from devices.health.probe import probe_camera, probe_cameras
from devices.health.status import ChannelHealth, DeviceStatus, HealthMonitor, HealthReport
from devices.health.vqd import FAULT_LABELS_ZH, Fault, QualityResult, VideoQualityAnalyzer, VqdThresholds, frame_metrics

__all__ = [
    "DEVICE_STATUS", "LAST_FRAME_KEY", "FAULT_LABELS_ZH", "ChannelHealth", "DeviceStatus", "Fault", "HealthMonitor", "HealthReport",
    "QualityResult", "VideoQualityAnalyzer", "VqdThresholds", "frame_metrics", "probe_camera", "probe_cameras", "publish_status", "status_event",
]
