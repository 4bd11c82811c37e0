"""Live view over WebRTC: the camera's H.264 relayed to browsers without re-encoding.

Public API (other packages import only these):

* :func:`make_router` — FastAPI router for ``/api/live`` (offer/answer, close, stats, ``live.js``),
  given the app's auth dependency and a scope-aware camera lookup;
* :class:`LiveCamera`, :func:`registry_lookup` — what the lookup returns / an adapter for ``devices``;
* :class:`LiveSessions`, :class:`LiveConfig`, :class:`SourceRegistry`, :class:`SourceOptions` —
  the per-camera upstream registry (one RTSP connection per camera) and viewer sessions;
* ``STATIC_DIR`` — holds ``live.js`` (``XLLive.play(video, cameraId, token, opts)``).
"""

from web.live.router import STATIC_DIR, LiveCamera, make_router, registry_lookup
from web.live.sessions import LiveConfig, LiveError, LiveSessions, Mode
from web.live.sources import SourceOptions, SourceRegistry, redact_url

__all__ = [
    "STATIC_DIR",
    "LiveCamera",
    "LiveConfig",
    "LiveError",
    "LiveSessions",
    "Mode",
    "SourceOptions",
    "SourceRegistry",
    "make_router",
    "redact_url",
    "registry_lookup",
]
