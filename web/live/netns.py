"""Run a command inside a private network namespace (for WebRTC between aiortc and a browser).

aioice ignores loopback addresses when gathering ICE candidates, and Chromium ignores
loopback *interfaces* altogether and, without camera permission, offers only the
interface of its default route (as an mDNS ``.local`` name). So a browser and aiortc on
one machine would pair over the machine's real interface. Tests and benchmarks instead
run the whole scenario in a fresh namespace holding a veth pair (``xl0`` 10.77.0.1 ↔
``xl1`` 10.77.0.2) with a default route and a multicast route (mDNS) on it. Nothing
inside can reach, or be reached from, the real network; packets for the "default route"
go to the peer end and die there.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence

NETNS_ADDRESS = "10.77.0.1"
_SETUP = (
    "ip link set lo up && ip link set lo multicast on && "
    "ip link add xl0 type veth peer name xl1 && "
    f"ip addr add {NETNS_ADDRESS}/24 dev xl0 && ip addr add 10.77.0.2/24 dev xl1 && "
    "ip link set xl0 up && ip link set xl1 up && "
    "ip route add 224.0.0.0/4 dev xl0 && ip route add default via 10.77.0.2 dev xl0"
)


def netns_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped so it runs in a new network namespace prepared for ICE."""
    return ["unshare", "-n", "bash", "-c", f"{_SETUP} && exec {shlex.join(argv)}"]


def netns_unavailable_reason() -> str | None:
    """None when namespaces can be created here, else why not (to skip with a clear reason)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs util-linux 'unshare' and iproute2 'ip' to create a network namespace"
    try:
        probe = subprocess.run(netns_argv(["true"]), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run unshare: {exc}"
    if probe.returncode != 0:
        return f"creating a network namespace is not permitted here (needs root/CAP_SYS_ADMIN): {probe.stderr.strip()}"
    return None
