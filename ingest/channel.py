"""What ingest needs to know about one channel: a small, stable boundary type.

``devices.Camera`` carries much more (jurisdiction, rules, zones); ingest only
needs where the stream is and how hard to look at it. :func:`spec_from_camera`
adapts a registry camera so the reader never depends on the registry's schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from devices import Camera
from devices import mask_url as redact_url  # one redactor for the whole product (devices owns URLs)

Mode = Literal["continuous", "patrol", "off"]
Transport = Literal["tcp", "udp"]


@dataclass(frozen=True)
class ChannelSpec:
    """One stream to read.

    ``fps`` is the *analysed* frame rate (frames delivered per second), not the
    camera's rate. ``mode="patrol"`` decodes keyframes only.
    """

    id: str
    url: str
    mode: Mode = "continuous"
    fps: float = 5.0
    transport: Transport = "tcp"

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("ChannelSpec.id must be non-empty")
        if not self.url.startswith(("rtsp://", "rtsps://", "file:", "/")) and "://" not in self.url:
            raise ValueError(f"channel {self.id}: url {redact_url(self.url)!r} is not an rtsp:// URL or a path")
        if self.mode not in ("continuous", "patrol", "off"):
            raise ValueError(f"channel {self.id}: mode must be continuous, patrol or off, not {self.mode!r}")
        if self.fps <= 0:
            raise ValueError(f"channel {self.id}: fps must be > 0, got {self.fps}")
        if self.transport not in ("tcp", "udp"):
            raise ValueError(f"channel {self.id}: transport must be tcp or udp, not {self.transport!r}")

    @property
    def safe_url(self) -> str:
        """The URL without credentials, for logs and status events."""
        return redact_url(self.url)

    def __repr__(self) -> str:  # never leak the password through a repr in a log line
        return f"ChannelSpec(id={self.id!r}, url={self.safe_url!r}, mode={self.mode!r}, fps={self.fps}, transport={self.transport!r})"


def spec_from_camera(camera: Camera, stream: Literal["main", "sub"] = "sub") -> ChannelSpec:
    """Build a :class:`ChannelSpec` from a registry camera.

    Analysis reads the sub-stream; live view should pass ``stream="main"``.
    Secrets (``${ENV}`` references) are resolved here, at connect time only.
    """
    url = camera.stream_url(stream, resolve_secrets=True)
    mode: Mode = camera.analysis.mode.value  # devices' StrEnum; ChannelSpec keeps the plain str
    return ChannelSpec(id=camera.id, url=url, mode=mode, fps=float(camera.analysis.fps or 5.0))
