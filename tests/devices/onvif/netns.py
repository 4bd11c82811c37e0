"""Run a test scenario module inside a fresh network namespace (multicast never reaches the real interface)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from xueliang.settings import REPO_ROOT

# Loopback only, with multicast routed to it and a second address for "another host".
_NAMESPACE_SETUP = ("ip link set lo up; ip link set lo multicast on; ip addr add 10.77.0.1/32 dev lo; "
                    "ip route add 224.0.0.0/4 dev lo; ")


def netns_unavailable() -> str | None:
    """Why no network namespace can be made here, or None when one can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare/ip not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace (needs root / CAP_SYS_ADMIN): {probe.stderr.strip()}"
    return None


def run_scenario_in_netns(module: str, timeout: float) -> dict[str, Any]:
    """``python -m module`` in a new namespace; returns the JSON object it prints last (skips without namespaces)."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    script = _NAMESPACE_SETUP + f"exec {sys.executable} -m {module}"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(["unshare", "-n", "bash", "-c", script], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
