"""Child processes that cannot outlive their parent.

Every server or worker Xueliang starts goes through :func:`spawn`: the child
gets ``PR_SET_PDEATHSIG`` so even a ``kill -9`` of the parent leaves no orphan,
and :func:`stop` escalates SIGTERM → SIGKILL with a deadline.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    *,
    env: dict[str, str | None] | None = None,
    cwd: str | Path | None = None,
    log_path: Path | None = None,
    capture_stdout: bool = False,
) -> subprocess.Popen:
    """Start ``argv`` as a child that receives SIGTERM when this process dies.

    ``env`` overrides the inherited environment; a ``None`` value removes a variable.
    """
    child_env = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    stdout: int | object
    if capture_stdout:
        stdout = subprocess.PIPE
    elif log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        stdout = open(log_path, "ab")  # noqa: SIM115 (owned by the child)
    else:
        stdout = None
    stderr = subprocess.STDOUT if log_path is not None and not capture_stdout else None
    return subprocess.Popen(
        list(argv),
        env=child_env,
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=_die_with_parent,
        text=capture_stdout or None,
    )


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> int | None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


def stop_all(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """Stop several processes at once: SIGTERM to all, one shared ``timeout``, then SIGKILL the rest.

    Stopping one after another costs the sum of their shutdowns; a supervisor with six children
    looked hung for a minute when each waited for its own timeout in turn.
    """
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    for proc in running:
        proc.wait(timeout)
    for proc in procs:
        if proc.stdout is not None:
            proc.stdout.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (race-prone by nature; retry on bind failure)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _program(proc: subprocess.Popen) -> str:
    """The program a process runs, for an error message (``args`` is a list, or one string with shell=True)."""
    args = proc.args
    first = args if isinstance(args, (str, bytes, os.PathLike)) else args[0]
    return os.fsdecode(first) if not isinstance(first, str) else first


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Block until ``host:port`` accepts TCP connections, or raise with a reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{_program(proc)} exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.0f}s")


def stop_requested_by_signals(logger: logging.Logger, doing: str = "stopping") -> threading.Event:
    """An event that SIGTERM (the demo supervisor, systemd) or SIGINT (Ctrl-C) sets: a worker's main loop polls it.

    Call from the main thread. The log line names the signal so an operator sees why a worker left.
    """
    stop_event = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logger.info("received %s, %s", signal.Signals(signum).name, doing)
        stop_event.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop_event
