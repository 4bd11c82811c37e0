"""Sample footage encoded the way real cameras send it (for the sample RTSP server, tests and benchmarks).

The repository ships one short clip (``samples/vtest.avi``); cameras send 25 fps,
GOP 50, 1080p main and D1 sub-streams, often High profile with B-frames, or
H.265. :func:`camera_footage` re-encodes the clip with ffmpeg into such an
Annex-B file plus a ``.pts`` sidecar (display index of each access unit in
decode order, which the sample server needs to stamp B-frames correctly). Files
are made once per machine, in a cache directory, never committed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE = REPO_ROOT / "samples" / "vtest.avi"


@dataclass(frozen=True)
class Footage:
    """One encoding of the sample clip."""

    codec: str  # "h264" | "h265"
    width: int
    height: int
    fps: int = 25
    gop: int = 50
    bframes: int = 0
    frames: int = 500  # 20 s at 25 fps: short enough to encode in seconds, long enough to loop rarely

    @property
    def profile(self) -> str:
        return "high" if self.bframes else "main"

    def ffmpeg_args(self) -> list[str]:
        # setpts retimes the 10 fps clip to `fps` without duplicating frames (motion plays faster)
        vf = f"setpts=N/{self.fps}/TB,scale={self.width}:{self.height}"
        common = ["-vf", vf, "-r", str(self.fps), "-frames:v", str(self.frames), "-an", "-pix_fmt", "yuv420p"]
        if self.codec == "h264":
            return common + ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", self.profile,
                             "-g", str(self.gop), "-keyint_min", str(self.gop), "-sc_threshold", "0",
                             "-bf", str(self.bframes), "-x264-params", "b-adapt=0:open-gop=0"]
        if self.codec == "h265":
            return common + ["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1",
                             "-x265-params", f"keyint={self.gop}:min-keyint={self.gop}:scenecut=0:bframes={self.bframes}"
                                             ":open-gop=0:repeat-headers=1:log-level=error"]
        raise ValueError(f"footage codec must be h264 or h265, not {self.codec!r}")

    def key(self) -> str:
        return hashlib.sha1(" ".join(self.ffmpeg_args()).encode()).hexdigest()[:10]


# The encodings the tests and benchmarks serve (see tests/ingest/conftest.py).
H264_BF3_1080P = Footage("h264", 1920, 1080, bframes=3)
H264_BF3_D1 = Footage("h264", 704, 576, bframes=3)
H264_MAIN_D1 = Footage("h264", 704, 576)
H265_1080P = Footage("h265", 1920, 1080, bframes=3)


def cache_dir() -> Path:
    base = os.environ.get("XUELIANG_FOOTAGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "xueliang", "footage")
    return Path(base)


def camera_footage(footage: Footage, directory: Path | None = None) -> Path:
    """The Annex-B file for ``footage`` (made with ffmpeg on first use), with its ``.pts`` sidecar."""
    if not SOURCE.exists():
        raise FileNotFoundError(f"sample clip {SOURCE} is missing (see samples/README.md)")
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise RuntimeError("ffmpeg/ffprobe not found; install the Debian package ffmpeg (scripts/setup.sh does)")
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"vtest_{footage.codec}_{footage.width}x{footage.height}_{footage.fps}fps_g{footage.gop}_bf{footage.bframes}_{footage.key()}"
    out = directory / f"{stem}.{footage.codec}"
    sidecar = Path(f"{out}.pts")
    if out.exists() and sidecar.exists():
        return out
    mp4 = directory / f"{stem}.{os.getpid()}.mp4"
    tmp = directory / f"{stem}.{os.getpid()}.part"
    try:
        _run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(SOURCE), *footage.ffmpeg_args(), str(mp4)])
        bsf = "h264_mp4toannexb" if footage.codec == "h264" else "hevc_mp4toannexb"
        fmt = "h264" if footage.codec == "h264" else "hevc"
        _run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy", "-bsf:v", bsf, "-f", fmt, str(tmp)])
        probe = _run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts", "-of", "csv=p=0", str(mp4)])
        pts = [int(line.split(",")[0]) for line in probe.splitlines() if line.strip()]
        rank = {p: i for i, p in enumerate(sorted(pts))}
        sidecar_tmp = Path(f"{tmp}.pts")
        sidecar_tmp.write_text("".join(f"{rank[p]}\n" for p in pts))
        sidecar_tmp.replace(sidecar)
        tmp.replace(out)
    finally:
        for leftover in (mp4, tmp):
            leftover.unlink(missing_ok=True)
    return out


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout
