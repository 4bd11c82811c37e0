"""The camera-like RTSP fixtures serve what they claim (checked with ffprobe and a raw DESCRIBE)."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from tests.ingest.cameras import CAMERAS, GARBAGE_SPROP


def describe(host: str, port: int, name: str) -> str:
    """The server's answer to DESCRIBE (status line, headers and SDP)."""
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"DESCRIBE rtsp://{host}:{port}/{name} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
            if not chunk or (sep and len(body) >= length):
                return data.decode()


def ffprobe_streams(url: str) -> list[dict]:
    out = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
                          "stream=codec_type,codec_name,profile,width,height,has_b_frames", "-of", "json", url],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["streams"]


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_fixture_serves_what_it_claims(cameras, name: str) -> None:
    cam = CAMERAS[name]
    streams = ffprobe_streams(cameras.url(name))
    video = [s for s in streams if s["codec_type"] == "video"]
    audio = [s["codec_name"] for s in streams if s["codec_type"] == "audio"]
    assert len(video) == 1 and video[0]["codec_name"] == cam.codec
    assert (video[0]["width"], video[0]["height"]) == (cam.footage.width, cam.footage.height)
    assert (video[0]["has_b_frames"] > 0) == cam.bframes, video[0]
    assert audio == {"aac": ["aac"], "pcma": ["pcm_alaw"], None: []}[cam.audio]
    sdp = describe(cameras.host, cameras.port, name)
    assert "RTSP/1.0 200 OK" in sdp
    assert ("a=framerate" in sdp) == cam.sdp_framerate, sdp
    assert (f"sprop-parameter-sets={GARBAGE_SPROP}" in sdp) == (cam.sprop is not None), sdp
