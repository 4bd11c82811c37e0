"""A synthetic county-scale registry (for the benchmark and scale tests).

Shaped like the deployments in DESIGN.md: one county, 13 townships, ~138 villages,
grids below them; most channels are patrol (轮巡) fixed cameras, a tenth are
continuously analysed with zones and rules, a few are PTZ domes with ONVIF, plus
drones and 4G terminals. Deterministic for a given seed.
"""

from __future__ import annotations

import random

COUNTY = "330381"
TOWNSHIPS = 13
VILLAGES_PER_TOWNSHIP = 11  # ~138 villages in the county
GRIDS_PER_VILLAGE = 9
TAGS = ("road", "school", "market", "river", "forest-fire", "scenic", "hospital", "station", "square", "bridge")
CENTRE = (27.78, 120.63)  # 瑞安


def generate_registry_yaml(channels: int, *, seed: int = 7, rtsp_host: str = "10.20.0.1") -> str:
    rng = random.Random(seed)
    out = ["# synthetic county registry: ", str(channels), " channels\nversion: 1\ncameras:\n"]
    for n in range(channels):
        t = 101 + rng.randrange(TOWNSHIPS)
        v = 201 + rng.randrange(VILLAGES_PER_TOWNSHIP)
        code = f"{COUNTY}{t}{v}"
        if rng.random() < 0.5:
            code += f"{1 + rng.randrange(GRIDS_PER_VILLAGE):03d}"
        lat = CENTRE[0] + (t - 107) * 0.035 + rng.uniform(-0.02, 0.02)
        lon = CENTRE[1] + (v - 206) * 0.03 + rng.uniform(-0.02, 0.02)
        r = rng.random()
        kind = "fixed" if r < 0.95 else "ptz" if r < 0.995 else "drone" if r < 0.997 else "4g_terminal"
        cid = f"c{n:06d}"
        tags = ", ".join(sorted(rng.sample(TAGS, 2)))
        host = f"{rtsp_host.rsplit('.', 1)[0]}.{1 + n % 250}"
        out.append(
            f"  - id: {cid}\n"
            f"    name: 村道 {t}-{v} 点位 {n}\n"
            f"    jurisdiction: \"{code}\"\n"
            f"    position: {{lat: {lat:.6f}, lon: {lon:.6f}}}\n"
            f"    kind: {kind}\n"
            f"    streams:\n"
            f"      main: rtsp://${{NVR_USER}}:${{NVR_PASSWORD}}@{host}:554/Streaming/Channels/{n % 64 + 1}01\n"
            f"      sub: rtsp://${{NVR_USER}}:${{NVR_PASSWORD}}@{host}:554/Streaming/Channels/{n % 64 + 1}02\n"
        )
        if kind == "ptz":
            out.append(
                f"    onvif: {{url: 'http://{host}/onvif/device_service', username: '${{ONVIF_USER}}', password: '${{ONVIF_PASSWORD}}'}}\n"
            )
        if kind in ("drone", "4g_terminal"):
            out.append("    analysis: {mode: 'off'}\n")
        elif rng.random() < 0.1:
            out.append(
                "    analysis: {mode: continuous, fps: 5}\n"
                "    zones:\n"
                "      - id: z1\n"
                "        polygon: [[0.05, 0.1], [0.95, 0.1], [0.95, 0.95], [0.05, 0.95]]\n"
                "    rules:\n"
                "      - {id: r1, kind: zone_intrusion, zone: z1, classes: [person], schedule: [{start: '22:00', end: '06:00'}]}\n"
                "      - {id: r2, kind: tripwire, line: [[0.1, 0.5], [0.9, 0.5]], direction: a_to_b, classes: [person, bicycle]}\n"
            )
        else:
            out.append("    analysis: {mode: patrol, fps: 0.2}\n")
        out.append(f"    tags: [{tags}]\n")
    return "".join(out)
