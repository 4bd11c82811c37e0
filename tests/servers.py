"""Servers the tests need that the product itself does not: PostgreSQL and an MQTT broker.

Each is used where a local one already answers (CI machines and developers' boxes often
run them); otherwise the test session starts its own from the Debian packages that
``scripts/setup.sh test`` installs, on a free loopback port in a temporary directory,
and stops it afterwards. A test only skips when neither is possible, with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xueliang.runtime import free_port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes] | None, timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start on {host}:{port}; its log:\n{log.read_text(errors='replace')[-2000:]}")


def postgres_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb (Debian's layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


@contextmanager
def private_postgres() -> Iterator[str]:
    """A PostgreSQL server of our own (trust auth on loopback) in a fresh directory; yields its admin URL.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres``
    system user that Debian's package creates (and lives outside pytest's root-only temp tree).
    """
    bin_dir = postgres_binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; scripts/setup.sh test installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="xueliang-test-pg-"))
    data = workdir / "pgdata"
    log = workdir / "postgres.log"
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres")
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    proc = subprocess.Popen(
        [*as_user, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(workdir), "-c", "fsync=off", "-c", "full_page_writes=off"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        _wait_port("127.0.0.1", port, proc, 30, "PostgreSQL", log)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def private_mosquitto(workdir: Path) -> Iterator[tuple[str, int]]:
    """A Mosquitto broker of our own on a free loopback port; yields (host, port)."""
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        raise RuntimeError("Mosquitto is not installed (Debian package mosquitto; scripts/setup.sh test installs it)")
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    log = workdir / "mosquitto.log"
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait_port("127.0.0.1", port, proc, 15, "Mosquitto", log)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
