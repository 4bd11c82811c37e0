"""Start/stop the GStreamer sample-camera RTSP server (see ``rtsp_sample_server.py``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from xueliang.runtime.processes import free_port, spawn, stop, wait_for_port

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_sample_server.py")


@dataclass(frozen=True)
class SampleMount:
    """One RTSP path served from an Annex-B H.264 (or H.265) file, looping at ``fps``.

    The other fields imitate real cameras: ``stamps="display"`` stamps a B-frame
    file in display order from its ``FILE.pts`` sidecar ("decode" stamps every
    access unit in decode order, as live555 does); ``sdp_framerate=False`` leaves
    ``a=framerate`` out of the SDP; ``audio`` adds an AAC or PCMA track; ``sprop``
    replaces the SDP's parameter sets (e.g. with garbage).
    """

    name: str
    file: Path
    fps: int = 10
    codec: str = "h264"  # or "h265"
    stamps: str = "decode"  # or "display" (needs FILE.pts)
    sdp_framerate: bool = True
    audio: str | None = None  # "aac" | "pcma"
    sprop: str | None = None

    def argument(self) -> str:
        extra = [f"codec={self.codec}", f"stamps={self.stamps}", f"sdp_framerate={int(self.sdp_framerate)}"]
        if self.audio:
            extra.append(f"audio={self.audio}")
        if self.sprop:
            extra.append(f"sprop={self.sprop}")
        return f"{self.name}={self.file.resolve()}@{self.fps};" + ";".join(extra)


@dataclass
class RtspSampleServer:
    mounts: list[SampleMount]
    port: int = 0
    host: str = "127.0.0.1"
    auth: str | None = None  # "user:password" required on every mount
    log_path: Path | None = None
    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def url(self, name: str, credentials: str | None = None) -> str:
        cred = f"{credentials}@" if credentials else ""
        return f"rtsp://{cred}{self.host}:{self.port}/{name}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 15.0) -> "RtspSampleServer":
        if not Path(SYSTEM_PYTHON).exists():
            raise RuntimeError(f"{SYSTEM_PYTHON} not found; run scripts/setup.sh (installs python3-gi, gst-rtsp-server)")
        for m in self.mounts:
            if not m.file.exists():
                raise FileNotFoundError(f"sample video {m.file} missing (see samples/README.md)")
        if not self.port:
            self.port = free_port(self.host)
        argv = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--host", self.host, "--port", str(self.port)]
        for m in self.mounts:
            argv += ["--mount", m.argument()]
        if self.auth:
            argv += ["--auth", self.auth]
        # The system interpreter must not see the venv's site-packages.
        env: dict[str, str | None] = {"PYTHONPATH": None, "PYTHONHOME": None, "VIRTUAL_ENV": None}
        self._proc = spawn(argv, env=env, log_path=self.log_path)
        wait_for_port(self.host, self.port, timeout, self._proc)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    def __enter__(self) -> "RtspSampleServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
