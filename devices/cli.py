"""``xueliang cameras validate|list`` (and ``discover``, contributed by devices.onvif when present)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections import Counter
from pathlib import Path

from devices.registry import Registry, RegistryError, load_registry

_MAX_JURISDICTION_ROWS = 30


def register(sub: argparse._SubParsersAction) -> None:
    cameras = sub.add_parser("cameras", help="camera registry: validate and list channels")
    cam_sub = cameras.add_subparsers(dest="cameras_command", required=True, metavar="ACTION")

    validate = cam_sub.add_parser("validate", help="check a cameras.yaml; print every problem (exit 1) or a summary")
    validate.add_argument("file", type=Path)
    validate.add_argument("--json", action="store_true", help="print the summary or problems as JSON")
    validate.set_defaults(func=cmd_validate)

    lister = cam_sub.add_parser("list", help="list channels (passwords masked)")
    lister.add_argument("--file", type=Path, default=None, help="registry file (default: XUELIANG_CAMERAS_FILE or configs/cameras.yaml)")
    lister.add_argument("--jurisdiction", metavar="CODE", help="only this jurisdiction and below (prefix)")
    lister.add_argument("--kind", choices=["fixed", "ptz", "drone", "4g_terminal"])
    lister.add_argument("--tag", action="append", default=[], help="only channels with this tag (repeatable: all must match)")
    lister.add_argument("--json", action="store_true", help="one JSON array of channels")
    lister.set_defaults(func=cmd_list)

    check = cam_sub.add_parser("check", help="patrol check: connect, diagnose video quality, report status per channel")
    check.add_argument("--file", type=Path, default=None, help="registry file (default: XUELIANG_CAMERAS_FILE or configs/cameras.yaml)")
    check.add_argument("--jurisdiction", metavar="CODE", help="only this jurisdiction and below")
    check.add_argument("--id", action="append", default=[], dest="ids", help="only this channel (repeatable)")
    check.add_argument("--all-modes", action="store_true", help="include channels whose analysis is off (default: skip them)")
    check.add_argument("--samples", type=int, default=8, help="frames diagnosed per channel (default 8)")
    check.add_argument("--interval", type=float, default=0.5, help="seconds of stream time between samples (default 0.5)")
    check.add_argument("--timeout", type=float, default=10.0, help="connect/read timeout per channel in seconds")
    check.add_argument("--workers", type=int, default=4, help="channels probed at once")
    check.add_argument("--publish", action="store_true", help="also publish device.status events to Redis (REDIS_URL)")
    check.add_argument("--json", action="store_true", help="one JSON array of reports")
    check.set_defaults(func=cmd_check)

    try:
        onvif_cli = importlib.import_module("devices.onvif.cli")
    except ModuleNotFoundError as exc:
        if exc.name not in ("devices.onvif", "devices.onvif.cli"):
            raise
    else:
        onvif_cli.register(sub)


def _default_file() -> Path:
    from xueliang.settings import Settings

    return Settings().cameras_file


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        registry = load_registry(args.file)
    except RegistryError as exc:
        if args.json:
            print(json.dumps({"ok": False, "problems": [vars(p) for p in exc.entries]}, ensure_ascii=False, indent=2))
        else:
            for line in exc.problems:
                print(line)
            noun = "problem" if len(exc.problems) == 1 else "problems"
            print(f"{args.file}: {len(exc.problems)} {noun}; nothing was loaded", file=sys.stderr)
        return 1
    summary = registry.summary()
    if args.json:
        print(json.dumps({"ok": True, "file": str(args.file), **summary}, ensure_ascii=False, indent=2))
        return 0
    print(f"{args.file}: OK, {summary['channels']} channels, {summary['zones']} zones, {summary['rules']} rules")
    print("  by kind:  " + ", ".join(f"{k} {n}" for k, n in summary["by_kind"].items()))
    print("  by mode:  " + ", ".join(f"{k} {n}" for k, n in summary["by_mode"].items()))
    by_code = summary["by_jurisdiction"]
    if len(by_code) > _MAX_JURISDICTION_ROWS:
        # County-scale files: roll up to townships so the summary stays readable.
        by_code = dict(sorted(Counter({c[:9]: 0 for c in by_code}).items()))
        for code, n in summary["by_jurisdiction"].items():
            by_code[code[:9]] += n
        print(f"  by jurisdiction (rolled up to {len(by_code)} townships/counties):")
    else:
        print("  by jurisdiction:")
    for code, n in list(by_code.items())[:200]:
        print(f"    {code:<15} {n}")
    if summary["secrets_needed"]:
        print("  environment variables needed when connecting: " + ", ".join(summary["secrets_needed"]))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    path = args.file or _default_file()
    try:
        registry: Registry = load_registry(path)
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return 1
    cams = registry.query(jurisdiction=args.jurisdiction, tags=args.tag, kind=args.kind)
    if args.json:
        print(json.dumps([c.public_dict() for c in cams], ensure_ascii=False, indent=2))
        return 0
    print(f"{'id':<12} {'kind':<11} {'mode':<10} {'jurisdiction':<15} name")
    for c in cams:
        print(f"{c.id:<12} {c.kind.value:<11} {c.analysis.mode.value:<10} {c.jurisdiction:<15} {c.name}")
    print(f"{len(cams)} of {len(registry)} channels", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 0 when every checked channel is online, 3 when some are not, 1 on a bad registry or setup."""
    from devices.health import DeviceStatus, HealthReport, probe_cameras, publish_status

    path = args.file or _default_file()
    try:
        registry = load_registry(path)
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return 1
    cams = list(registry.query(jurisdiction=args.jurisdiction))
    if args.ids:
        unknown = sorted(set(args.ids) - set(registry.cameras))
        if unknown:
            print(f"no such channel in {path}: {', '.join(unknown)}", file=sys.stderr)
            return 1
        cams = [c for c in cams if c.id in set(args.ids)]
    elif not args.all_modes:
        cams = [c for c in cams if c.analysis.mode.value != "off" and c.enabled]
    redis_client = None
    if args.publish:
        from xueliang.settings import Settings

        url = Settings().redis_url
        if not url:
            print("--publish needs REDIS_URL (the deployment's Redis); it is not set", file=sys.stderr)
            return 1
        import redis

        redis_client = redis.Redis.from_url(url)

    def show(report: HealthReport) -> None:
        if redis_client is not None:
            publish_status(redis_client, report)
        if not args.json:
            faults = ", ".join(report.faults) or "-"
            print(f"{report.camera_id:<12} {report.status.value:<12} {faults:<24} {report.reason}", flush=True)

    if not args.json:
        print(f"{'id':<12} {'status':<12} {'faults':<24} reason")
    reports = probe_cameras(cams, workers=args.workers, on_report=show, samples=args.samples,
                            interval_s=args.interval, timeout_s=args.timeout)
    if redis_client is not None:
        redis_client.close()
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in reports], ensure_ascii=False, indent=2))
    else:
        counts = Counter(r.status.value for r in reports)
        print(f"{len(reports)} channels: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()), file=sys.stderr)
    return 0 if all(r.status is DeviceStatus.online for r in reports) else 3
