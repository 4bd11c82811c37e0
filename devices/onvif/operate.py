"""``xueliang onvif ...``: look at and steer one camera from the command line (ops and field checks).

    xueliang onvif info cam07                      # identity, services, profiles, stream URIs, clock offset
    xueliang onvif move cam07 --pan 0.5 --seconds 1
    xueliang onvif presets cam07 | goto cam07 TOKEN | set-preset cam07 "东门"
    xueliang onvif events cam07 --seconds 60       # print camera-side alarms as they arrive

The camera is a registry id (``--file``, default XUELIANG cameras file) whose ``${ENV}``
credentials are resolved now, or a device URL with ``--username`` / ``--password-env``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devices.onvif.client import OnvifCamera
    from devices.onvif.events import OnvifEvent


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("onvif", help="one ONVIF camera: info, PTZ moves and presets, live alarms")
    actions = p.add_subparsers(dest="onvif_command", required=True, metavar="ACTION")

    def camera_args(a: argparse.ArgumentParser) -> None:
        a.add_argument("camera", help="camera id in the registry, or a device service URL (http://host/onvif/device_service)")
        a.add_argument("--file", type=Path, help="registry file (default: XUELIANG_CAMERAS_FILE or configs/cameras.yaml)")
        a.add_argument("--username", default=os.environ.get("ONVIF_USERNAME", "admin"), help="with a URL: ONVIF user")
        a.add_argument("--password-env", default="ONVIF_PASSWORD", metavar="VAR", help="with a URL: variable holding the password")
        a.add_argument("--timeout", type=float, default=5.0)

    info = actions.add_parser("info", help="identity, services, profiles, stream URIs, PTZ, clock offset")
    camera_args(info)
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)

    move = actions.add_parser("move", help="continuous move for --seconds, then stop")
    camera_args(move)
    move.add_argument("--pan", type=float, default=0.0, help="-1 (left) .. 1 (right)")
    move.add_argument("--tilt", type=float, default=0.0, help="-1 (down) .. 1 (up)")
    move.add_argument("--zoom", type=float, default=0.0, help="-1 (out) .. 1 (in)")
    move.add_argument("--seconds", type=float, default=0.5)
    move.set_defaults(func=cmd_move)

    presets = actions.add_parser("presets", help="list PTZ presets")
    camera_args(presets)
    presets.set_defaults(func=cmd_presets)

    goto = actions.add_parser("goto", help="go to a PTZ preset")
    camera_args(goto)
    goto.add_argument("preset", help="preset token (see `presets`)")
    goto.set_defaults(func=cmd_goto)

    setp = actions.add_parser("set-preset", help="store the current position as a preset")
    camera_args(setp)
    setp.add_argument("name")
    setp.set_defaults(func=cmd_set_preset)

    events = actions.add_parser("events", help="print camera-side alarms (PullPoint) for --seconds")
    camera_args(events)
    events.add_argument("--seconds", type=float, default=30.0)
    events.set_defaults(func=cmd_events)


def _open(args: argparse.Namespace) -> OnvifCamera:
    from devices.onvif.client import OnvifCamera  # the SOAP stack loads only when a command needs it

    if "://" in args.camera:
        password = os.environ.get(args.password_env)
        return OnvifCamera(args.camera, args.username if password is not None else None, password, timeout=args.timeout)
    from devices import RegistryError, load_registry

    path = args.file
    if path is None:
        from xueliang.settings import Settings

        path = Settings().cameras_file
    try:
        registry = load_registry(path)
    except RegistryError as exc:
        raise SystemExit(str(exc)) from None
    camera = registry.cameras.get(args.camera)
    if camera is None:
        raise SystemExit(f"{path}: no camera {args.camera!r}")
    try:
        return OnvifCamera.from_registry(camera, timeout=args.timeout)
    except (ValueError, LookupError) as exc:
        raise SystemExit(str(exc)) from None


def _run(args: argparse.Namespace, action: Callable[[OnvifCamera], int]) -> int:
    from devices.onvif.errors import OnvifError

    cam = _open(args)
    try:
        return action(cam)
    except OnvifError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        cam.close()


def cmd_info(args: argparse.Namespace) -> int:
    def action(cam: OnvifCamera) -> int:
        caps = cam.connect()
        info = cam.device_information()
        data = {
            "device": cam.url,
            "manufacturer": info.manufacturer, "model": info.model, "firmware": info.firmware_version,
            "serial": info.serial_number, "clock_offset_s": cam.clock.offset.total_seconds(),
            "services": sorted(caps.xaddrs), "ptz": cam.has_ptz(), "events": caps.events,
            "profiles": [{"token": p.token, "name": p.name, "encoding": p.encoding, "width": p.width, "height": p.height, "fps": p.fps}
                         for p in cam.profiles()],
            "streams": cam.stream_uris(),
        }
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            for key, value in data.items():
                print(f"{key:<15} {value}")
        return 0

    return _run(args, action)


def cmd_move(args: argparse.Namespace) -> int:
    def action(cam: OnvifCamera) -> int:
        # The device-side timeout stops the head even if this process dies mid-move.
        cam.continuous_move(args.pan, args.tilt, args.zoom, timeout_s=args.seconds + 1.0)
        time.sleep(max(0.0, args.seconds))
        cam.stop()
        status = cam.ptz_status()
        print(f"stopped at {status.position}")
        return 0

    return _run(args, action)


def cmd_presets(args: argparse.Namespace) -> int:
    def action(cam: OnvifCamera) -> int:
        for p in cam.presets():
            print(f"{p.token:<12} {p.name}  {p.position if p.position else ''}")
        return 0

    return _run(args, action)


def cmd_goto(args: argparse.Namespace) -> int:
    def action(cam: OnvifCamera) -> int:
        cam.goto_preset(args.preset)
        return 0

    return _run(args, action)


def cmd_set_preset(args: argparse.Namespace) -> int:
    def action(cam: OnvifCamera) -> int:
        print(cam.set_preset(args.name))
        return 0

    return _run(args, action)


def cmd_events(args: argparse.Namespace) -> int:
    stop = threading.Event()
    failure: list[str] = []

    def on_alarm(event: OnvifEvent) -> None:
        source = ",".join(f"{k}={v}" for k, v in event.source.items())
        print(f"{event.utc_time.isoformat()} {event.kind:<14} {event.topic} {source}", flush=True)

    def on_status(status: str, reason: str) -> None:
        print(f"# link {status}" + (f": {reason}" if reason else ""), file=sys.stderr, flush=True)
        if status in ("auth_failed", "unsupported"):
            failure.append(status)
            stop.set()

    from devices.onvif.events import watch_alarms

    def action(cam: OnvifCamera) -> int:
        timer = threading.Timer(args.seconds, stop.set)
        timer.start()
        try:
            watch_alarms(cam, on_alarm, stop, on_status=on_status, pull_timeout=dt.timedelta(seconds=min(5.0, max(1.0, args.seconds))))
        except KeyboardInterrupt:
            stop.set()
        finally:
            timer.cancel()
        return 1 if failure else 0

    return _run(args, action)
