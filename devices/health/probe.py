"""Patrol check of channels: connect, sample a few frames, diagnose, report.

The long-running path is ingest feeding :class:`ChannelHealth` with the frames it
decodes anyway. This probe is the operator's and the maintenance crew's tool
(``xueliang cameras check``): it opens each channel's sub stream itself, so it also
works where no ingest runs, and tells online / offline / auth_failed / no_signal /
degraded with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import av

from devices.health.status import ChannelHealth, DeviceStatus, HealthReport
from devices.registry import Camera, SecretError, mask_url


def _is_auth_error(exc: BaseException) -> bool:
    if isinstance(exc, getattr(av.error, "HTTPUnauthorizedError", ())) or isinstance(exc, getattr(av.error, "HTTPForbiddenError", ())):
        return True
    text = str(exc)
    return "401" in text or "Unauthorized" in text or "403" in text


def probe_camera(camera: Camera, *, samples: int = 8, interval_s: float = 0.5, timeout_s: float = 10.0,
                 stream: Literal["main", "sub"] = "sub") -> HealthReport:
    """Open the stream, diagnose ``samples`` frames ``interval_s`` apart (stream time), return the report."""
    health = ChannelHealth(camera, offline_after_s=timeout_s)
    try:
        url = camera.stream_url(stream, resolve_secrets=True)
    except SecretError as exc:
        health.observe_reader_state("auth_failed", f"credentials not configured: {exc}")
        return health.report()
    started = time.monotonic()
    try:
        with av.open(url, options={"rtsp_transport": "tcp", "probesize": "500000", "analyzeduration": "1000000"},
                     timeout=(timeout_s, timeout_s)) as container:
            health.observe_reader_state("online")
            next_at: float | None = None
            seen = 0
            for frame in container.decode(video=0):
                if time.monotonic() - started > timeout_s + samples * interval_s * 2 + 10:
                    break  # a stream slower than real time: judge on what we have
                t = frame.time if frame.time is not None else seen * interval_s
                if next_at is not None and t < next_at:
                    continue
                next_at = t + interval_s
                health.observe_frame(frame.to_ndarray(format="bgr24"))
                seen += 1
                if seen >= samples:
                    break
            if seen == 0:
                health.observe_reader_state("offline", f"connected to {mask_url(url)} but no frame decoded")
    except av.error.FFmpegError as exc:
        state = "auth_failed" if _is_auth_error(exc) else "offline"
        health.observe_reader_state(state, f"{type(exc).__name__}: {exc}".replace(url, mask_url(url)))
    except OSError as exc:
        health.observe_reader_state("offline", f"{type(exc).__name__}: {exc}".replace(url, mask_url(url)))
    return health.report()


def probe_cameras(cameras: Iterable[Camera], *, workers: int = 4, on_report: Callable[[HealthReport], None] | None = None,
                  samples: int = 8, interval_s: float = 0.5, timeout_s: float = 10.0) -> list[HealthReport]:
    """Probe several channels, ``workers`` at a time (the box and the NVRs are not infinite)."""
    cams = list(cameras)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="vqd-probe") as pool:
        reports = []
        for report in pool.map(lambda c: probe_camera(c, samples=samples, interval_s=interval_s, timeout_s=timeout_s), cams):
            reports.append(report)
            if on_report is not None:
                on_report(report)
    return reports


STATUS_ORDER = {s: i for i, s in enumerate((DeviceStatus.offline, DeviceStatus.auth_failed, DeviceStatus.no_signal,
                                            DeviceStatus.degraded, DeviceStatus.online))}
