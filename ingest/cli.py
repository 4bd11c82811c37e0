"""``xueliang ingest ...``: look at a camera from the command line.

    xueliang ingest probe URL [--seconds 5] [--fps 5] [--patrol]
    xueliang ingest clip URL OUT.mp4 [--seconds 10]     (remux, no re-encode)
    xueliang ingest run --registry configs/cameras.yaml [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from ingest.channel import ChannelSpec, redact_url, spec_from_camera
from ingest.events import Frame, StatusEvent
from ingest.packets import PacketRing, write_mp4
from ingest.reader import StreamReader
from ingest.scheduler import ChannelScheduler, SchedulerConfig


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest", help="RTSP ingest: probe a camera, cut a clip, run the scheduler")
    isub = parser.add_subparsers(dest="ingest_command", required=True, metavar="ACTION")

    p = isub.add_parser("probe", help="connect, report codec/size/fps/GOP and delivered frames")
    p.add_argument("url")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--fps", type=float, default=5.0, help="analysed fps to request")
    p.add_argument("--patrol", action="store_true", help="keyframe-only decode")
    p.add_argument("--transport", choices=["tcp", "udp"], default="tcp")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=probe)

    c = isub.add_parser("clip", help="record N seconds to MP4 without re-encoding")
    c.add_argument("url")
    c.add_argument("out", type=Path)
    c.add_argument("--seconds", type=float, default=10.0)
    c.set_defaults(func=clip)

    r = isub.add_parser("run", help="run the channel scheduler over a camera registry and print its report")
    r.add_argument("--registry", type=Path, default=Path("configs/cameras.yaml"))
    r.add_argument("--seconds", type=float, default=30.0)
    r.add_argument("--fps-budget", type=float, default=200.0)
    r.add_argument("--patrol-workers", type=int, default=8)
    r.set_defaults(func=run)


def probe(args: argparse.Namespace) -> int:
    spec = ChannelSpec("probe", args.url, mode="patrol" if args.patrol else "continuous", fps=args.fps, transport=args.transport)
    frames: list[Frame] = []
    events: list[StatusEvent] = []
    t0 = time.monotonic()
    first: list[float] = []

    def on_frame(f: Frame) -> None:
        if not first:
            first.append(f.ts_monotonic - t0)
        frames.append(f)

    reader = StreamReader(spec, on_frame=on_frame, on_status=events.append)
    with reader:
        deadline = t0 + args.seconds
        while time.monotonic() < deadline and reader.state not in ("auth_failed",):
            time.sleep(0.1)
    params = reader.params
    gop = reader.stats.gop_s  # from the packets' key flags, not from delivered frames
    report = {
        "url": redact_url(args.url),
        "states": [f"{e.state}{'(' + e.reason + ')' if e.reason else ''}" for e in events],
        "codec": params.codec_name if params else None,
        "size": f"{params.width}x{params.height}" if params else None,
        "stream_fps": params.fps if params else None,
        "keyframe_interval_s": round(gop, 2) if gop else None,
        "gop_frames": reader.stats.gop_frames,
        "b_frames": params.reorder if params else None,
        "profile": params.profile if params else None,
        "decode_order_stamps": reader.stats.decode_order_stamps,
        "first_frame_s": round(first[0], 2) if first else None,
        "frames_delivered": len(frames),
        "delivered_fps": round(len(frames) / args.seconds, 2),
        "packets": reader.stats.packets,
        "decoded": reader.stats.packets_decoded,
        "corrupt_frames": reader.stats.corrupt_frames,
        "decode_errors": reader.stats.decode_errors,
        "kbit_s": round(reader.stats.bytes * 8 / 1000 / args.seconds, 1),
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:>20}: {v}")
    if not frames:
        reasons = [f"{e.state}: {e.reason}" for e in events if e.reason]
        reason = reasons[-1] if reasons else "the camera did not answer"
        print(f"No frame from {redact_url(args.url)} in {args.seconds:g} s ({reason.rstrip('.')}).", file=sys.stderr)
        return 1
    return 0


def clip(args: argparse.Namespace) -> int:
    ring = PacketRing(seconds=args.seconds + 30)
    events: list[StatusEvent] = []
    reader = StreamReader(ChannelSpec("clip", args.url), packet_ring=ring, on_status=events.append)
    with reader:
        time.sleep(args.seconds)
    packets = ring.snapshot()
    if not packets or ring.params is None:
        reasons = [e.reason for e in events if e.reason]
        reason = reasons[-1] if reasons else "the camera did not answer"
        print(f"No video arrived from {redact_url(args.url)} in {args.seconds:g} s ({reason.rstrip('.')}).", file=sys.stderr)
        return 1
    try:
        path = write_mp4(packets, ring.params, args.out)
    except ValueError as exc:
        print(f"Cannot write {args.out}: {str(exc).removeprefix('write_mp4: ')}.", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Cannot write {args.out}: {exc.strerror or exc}.", file=sys.stderr)
        return 1
    print(f"{path}: {len(packets)} packets, {packets[-1].ts_monotonic - packets[0].ts_monotonic:.1f} s")
    return 0


def run(args: argparse.Namespace) -> int:
    from devices import RegistryError, load_registry

    try:
        registry = load_registry(args.registry)
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return 2
    specs = [spec_from_camera(cam) for cam in registry.cameras.values()]
    lock = threading.Lock()

    def on_status(e: StatusEvent) -> None:
        with lock:
            print(f"{time.strftime('%H:%M:%S')} {e.channel_id:<12} {e.state}{': ' + e.reason if e.reason else ''}")

    config = SchedulerConfig(fps_budget=args.fps_budget, patrol_workers=args.patrol_workers)
    with ChannelScheduler(lambda f: None, on_status, config) as sched:
        sched.sync(specs)
        time.sleep(args.seconds)
        rep = sched.report()
    print(f"continuous {rep.continuous}, patrol {rep.patrol}, off {rep.off}, over budget {rep.over_budget}, "
          f"fps {rep.fps_used:.0f}/{rep.fps_budget:.0f}, patrol revisit mean {rep.patrol_revisit_mean_s}")
    for c in rep.channels:
        print(f"  {c.id:<12} {c.mode:<10} {c.state:<11} frames {c.frames_delivered:<5} revisit {c.revisit_s}")
    return 0
