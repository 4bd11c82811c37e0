"""Run SIPp (Debian ``sip-tester``) as an independent GB/T 28181 peer for the tests."""

from __future__ import annotations

import asyncio
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
MEDIA_TOKEN = "test-media-token-4f9c2a71b8"  # the GB worker's PS/control endpoint token in the tests
SIPP = shutil.which("sipp")
needs_sipp = pytest.mark.skipif(SIPP is None, reason="SIPp missing: scripts/setup.sh installs the Debian package sip-tester")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SippRun:
    proc: asyncio.subprocess.Process
    logdir: Path
    local_port: int

    async def wait(self, timeout: float = 60.0) -> tuple[int, str]:
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.logdir.glob("*.log")))
        return self.proc.returncode or 0, (out or b"").decode(errors="replace")[-3000:] + logs

    async def stop(self) -> None:
        """Kill SIPp if still running and reap it (an unreaped transport warns after the loop closed)."""
        if self.proc.returncode is None:
            self.proc.kill()
        try:
            await asyncio.wait_for(self.proc.communicate(), 5)
        except (TimeoutError, ValueError):
            pass


async def start_sipp(scenario: str | Path, *, server_port: int, logdir: Path, keys: dict[str, str], transport: str = "u1",
                     ooc: str | Path | None = None, auth: tuple[str, str] | None = None, calls: int = 1,
                     timeout_s: int = 40, local_port: int | None = None, rate: int | None = None,
                     hold_ms: int = 3000, server_mode: bool = False) -> SippRun:
    logdir.mkdir(parents=True, exist_ok=True)
    local_port = local_port or free_port(socket.SOCK_STREAM if transport.startswith("t") else socket.SOCK_DGRAM)
    sf = Path(scenario) if Path(scenario).is_absolute() else SCENARIOS / scenario
    target = [] if server_mode else [f"127.0.0.1:{server_port}"]  # server mode: SIPp waits for the first request
    cmd = [SIPP, *target, "-sf", str(sf), "-m", str(calls), "-p", str(local_port), "-i", "127.0.0.1",
           "-t", transport, "-d", str(hold_ms), "-nostdin", "-timeout", f"{timeout_s}s", "-timeout_error", "-trace_err",
           "-error_file", str(logdir / "errors.log"), "-trace_msg", "-message_file", str(logdir / "messages.log")]
    if rate:
        cmd += ["-r", str(rate)]
    if ooc is not None:
        cmd += ["-oocsf", str(Path(ooc) if Path(ooc).is_absolute() else SCENARIOS / ooc)]
    if auth is not None:
        cmd += ["-au", auth[0], "-ap", auth[1]]
    for k, v in keys.items():
        cmd += ["-key", k, v]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                stdin=asyncio.subprocess.DEVNULL, cwd=str(logdir))
    return SippRun(proc, logdir, local_port)
