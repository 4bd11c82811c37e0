"""``xueliang discover``: find ONVIF devices, show what they are, optionally write registry entries.

    xueliang discover                                  # multicast on the local segment
    xueliang discover --host 10.20.0.15 --host 10.20.0.16
    ONVIF_PASSWORD=... xueliang discover --username admin --write discovered.yaml --jurisdiction 330381101

Credentials come from the environment (``--password-env``, default ONVIF_PASSWORD);
the written file references the variable, never the password.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from devices.onvif.discovery import DISCOVERY_PORT, DiscoveredDevice, DiscoveryReport, discover, expand_hosts

if TYPE_CHECKING:
    from devices.onvif.survey import SurveyResult


def register(sub: argparse._SubParsersAction) -> None:
    from devices.onvif import operate

    operate.register(sub)
    p = sub.add_parser("discover", help="find ONVIF cameras (WS-Discovery), list vendor/model/streams/PTZ, write registry entries")
    p.add_argument("--host", action="append", default=[], help="probe this host or range (10.20.0.0/24) by unicast (repeatable); default: multicast")
    p.add_argument("--url", action="append", default=[], help="skip discovery, survey this device service URL (repeatable)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for discovery replies and for each ONVIF call")
    p.add_argument("--port", type=int, default=DISCOVERY_PORT, help=argparse.SUPPRESS)
    p.add_argument("--interface", help="IPv4 address of the interface to multicast from")
    p.add_argument("--username", default=os.environ.get("ONVIF_USERNAME", "admin"), help="ONVIF user (default $ONVIF_USERNAME or admin)")
    p.add_argument("--password-env", default="ONVIF_PASSWORD", metavar="VAR", help="environment variable holding the password")
    p.add_argument("--write", type=Path, metavar="FILE", help="write registry entries (cameras.yaml schema) for the devices that answered")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--jurisdiction", help="jurisdiction code for written entries (default: the device's location scope if it is a code)")
    p.add_argument("--position", default=None, metavar="LAT,LON", help="position for written entries (the survey site)")
    p.add_argument("--id-prefix", default="onvif")
    p.add_argument("--workers", type=int, default=16, help="devices surveyed in parallel")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_discover)


def _parse_position(text: str | None) -> tuple[float, float] | None:
    if not text:
        return None
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"--position {text!r}: expected LAT,LON such as 27.78,120.65") from None
    return lat, lon


def cmd_discover(args: argparse.Namespace) -> int:
    password = os.environ.get(args.password_env)
    if password is None:
        print(f"note: ${args.password_env} is not set; surveying without credentials (most devices will answer auth_failed)", file=sys.stderr)
    position = _parse_position(args.position)
    if args.write and args.write.exists() and not args.overwrite:
        print(f"error: {args.write} exists; choose another file or pass --overwrite", file=sys.stderr)
        return 2

    found: list[DiscoveredDevice] = []
    rejected: list[str] = []
    try:
        if args.url:
            targets: list[DiscoveredDevice | str] = list(args.url)
        else:
            report = DiscoveryReport()
            hosts = expand_hosts(args.host) if args.host else None
            discover(hosts, timeout=args.timeout, port=args.port, interface=args.interface, report=report)
            found, rejected = report.devices, report.rejected
            targets = list(found)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from devices.onvif.survey import survey_all  # the SOAP stack loads only when a command needs it

    results = survey_all(targets, args.username if password is not None else None, password, timeout=args.timeout, workers=args.workers)

    if args.json:
        print(json.dumps({"devices": [r.to_json() for r in results], "rejected_replies": rejected}, ensure_ascii=False, indent=2))
    else:
        _print_table(results, rejected)

    if args.write:
        written = _write(args, results, position)
        if written < 0:
            return 2
    return 0 if results else 1


def _print_table(results: list[SurveyResult], rejected: list[str]) -> None:
    if not results:
        print("no ONVIF device answered")
    for r in results:
        info = r.info
        head = f"{r.device_url}"
        if r.scope_name:
            head += f"  ({r.scope_name})"
        print(head)
        if info:
            print(f"  vendor {info.manufacturer}  model {info.model}  firmware {info.firmware_version}  serial {info.serial_number}")
        if r.streams:
            print(f"  main   {r.streams.get('main')}")
            print(f"  sub    {r.streams.get('sub')}")
        if r.ptz is not None:
            print(f"  PTZ    {'yes' if r.ptz else 'no'}   events {'yes' if r.events else 'no'}   clock offset {r.clock_offset_s:+.0f} s")
        print(f"  status {r.status}" + (f": {r.error}" if r.error else ""))
    for line in rejected:
        print(f"dropped reply {line}", file=sys.stderr)
    print(f"{len(results)} device(s); {sum(r.status == 'online' for r in results)} online", file=sys.stderr)


def _write(args: argparse.Namespace, results: list[SurveyResult], position: tuple[float, float] | None) -> int:
    from devices.onvif.survey import registry_entry, registry_yaml

    usable = [r for r in results if r.status == "online" and r.streams]
    entries, skipped = [], []
    for r in usable:
        code = args.jurisdiction or (r.scope_location if (r.scope_location or "").isdigit() and len(r.scope_location or "") in (6, 9, 12, 15) else None)
        if not code:
            skipped.append(f"{r.device_url}: no --jurisdiction given and its location scope is not a jurisdiction code")
            continue
        lat, lon = position or (0.0, 0.0)
        entries.append(registry_entry(r, jurisdiction=code, lat=lat, lon=lon, username=args.username, password_env=args.password_env, id_prefix=args.id_prefix))
    for r in results:
        if r not in usable:
            skipped.append(f"{r.device_url}: {r.status} (not written)")
    seen: dict[str, int] = {}
    for e in entries:  # two devices without serial numbers must not collide
        n = seen.get(e["id"], 0)
        seen[e["id"]] = n + 1
        if n:
            e["id"] = f"{e['id']}-{n + 1}"
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not entries:
        print(f"nothing to write: no device answered with usable streams; {args.write} not created", file=sys.stderr)
        return -1
    comment = "" if position else "position 0,0 is a placeholder: no --position was given."
    text = registry_yaml(entries, comment=comment)
    problem = _validate(text, args.write)
    if problem:
        print(f"error: generated entries do not validate, nothing written:\n{problem}", file=sys.stderr)
        return -1
    args.write.write_text(text, encoding="utf-8")
    print(f"wrote {len(entries)} camera(s) to {args.write}", file=sys.stderr)
    return len(entries)


def _validate(text: str, path: Path) -> str | None:
    try:
        from devices import RegistryError, parse_registry
    except ImportError:  # registry not available: nothing to check against
        return None
    try:
        parse_registry(text, source=path)
    except RegistryError as exc:
        return str(exc)
    return None
