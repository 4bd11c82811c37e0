"""Embedded runtime services the program starts itself: sample RTSP cameras, Redis, child processes."""

from xueliang.runtime.embedded_redis import EmbeddedRedis
from xueliang.runtime.processes import free_port, spawn, stop, stop_all, stop_requested_by_signals, wait_for_port
from xueliang.runtime.rtsp import RtspSampleServer, SampleMount

__all__ = ["EmbeddedRedis", "RtspSampleServer", "SampleMount", "free_port", "spawn", "stop", "stop_all", "stop_requested_by_signals", "wait_for_port"]
