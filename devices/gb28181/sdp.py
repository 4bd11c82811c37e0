"""The GB/T 28181 SDP of an INVITE: build the offer, read the answer (``y=``/``f=`` cut first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaMode = Literal["udp", "tcp-passive", "tcp-active"]


@dataclass(frozen=True)
class SdpAnswer:
    host: str
    port: int
    ssrc: str
    tcp: bool
    setup: str  # "active" | "passive" | "" (their role)
    payload_types: tuple[str, ...]


def build_offer(*, channel_id: str, host: str, port: int, ssrc: str, mode: MediaMode, playback: tuple[int, int] | None = None,
                session: Literal["Play", "Playback", "Download"] = "Play") -> bytes:
    """SDP offer to receive PS/RTP on host:port. ``playback`` = (start, end) unix seconds."""
    tcp = mode != "udp"
    lines = ["v=0", f"o={channel_id} 0 0 IN IP4 {host}", f"s={session}"]
    if playback is not None:
        lines.append(f"u={channel_id}:0")
    lines += [f"c=IN IP4 {host}", f"t={playback[0]} {playback[1]}" if playback else "t=0 0",
              f"m=video {port} {'TCP/RTP/AVP' if tcp else 'RTP/AVP'} 96 97 98",
              "a=recvonly", "a=rtpmap:96 PS/90000", "a=rtpmap:97 MPEG4/90000", "a=rtpmap:98 H264/90000"]
    if tcp:
        # our role: passive = we listen and the device connects; active = we connect to the device
        lines += [f"a=setup:{'passive' if mode == 'tcp-passive' else 'active'}", "a=connection:new"]
    lines.append(f"y={ssrc}")
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_answer(body: bytes) -> SdpAnswer:
    """The media address, SSRC and TCP role of a device's SDP answer; ValueError with the reason when unusable."""
    text = body.decode("utf-8", errors="replace")
    head, ssrc = [], ""
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if line.startswith("y="):
            ssrc = line[2:].strip()
            continue  # y= and f= are GB additions that standard parsers reject: read, then drop
        if line.startswith("f="):
            continue
        head.append(line)
    host, port, tcp, setup, pts = "", 0, False, "", ()
    for line in head:
        if line.startswith("c=") and not host:
            host = line.split()[-1]
        elif line.startswith("m=video"):
            parts = line.split()
            if len(parts) < 4 or not parts[1].isdigit():
                raise ValueError(f"SDP answer has a malformed media line {line!r}")
            port, tcp, pts = int(parts[1]), "TCP" in parts[2].upper(), tuple(parts[3:])
        elif line.startswith("a=setup:"):
            setup = line.split(":", 1)[1].strip()
    if not host or not port:
        raise ValueError("SDP answer has no c= address or m=video port")
    if ssrc and not (ssrc.isdigit() and len(ssrc) <= 10):
        raise ValueError(f"SDP answer y={ssrc!r} is not a 10-digit SSRC")
    return SdpAnswer(host=host, port=port, ssrc=ssrc, tcp=tcp, setup=setup, payload_types=pts)
