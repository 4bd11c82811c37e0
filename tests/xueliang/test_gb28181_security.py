"""The GB worker's PS/control endpoint as an attacker on the video network sees it.

The real ``xueliang gb28181 run`` process; raw HTTP over a socket (no client library smoothing
anything over): every route but ``/health`` answers 401 without the token or with a wrong one,
in every place a token could be slipped in, before any routing (nothing about channels or paths
is told); the right token gets through; neither answers nor the worker's log carry the token;
the worker does not start without a token.
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.devices.gb28181.sipp import MEDIA_TOKEN
from xueliang.runtime import free_port, spawn, stop
from xueliang.settings import REPO_ROOT

pytestmark = pytest.mark.timeout(90)
CH = "34020000001320000001"


def raw(port: int, request: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send *request* as is; (status, whole answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while True:
            try:
                data = s.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
    answer = b"".join(chunks)
    return int(answer.split(b" ", 2)[1]), answer


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    work = tmp_path_factory.mktemp("gbsec")
    (work / "cameras.yaml").write_text("version: 1\ncameras: []\n", encoding="utf-8")
    media_port = free_port()
    log_path = work / "worker.log"
    proc = spawn([sys.executable, "-m", "xueliang.cli", "gb28181", "run", "--port", "0", "--media-port", str(media_port),
                  "--cameras", str(work / "cameras.yaml")],
                 env={"XUELIANG_GB28181_MEDIA_TOKEN": MEDIA_TOKEN, "XUELIANG_GB28181_PASSWORD": "pw",
                      "DATABASE_URL": f"sqlite:///{work / 'gb.db'}", "REDIS_URL": None, "XUELIANG_DATA_DIR": str(work)},
                 cwd=REPO_ROOT, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if raw(media_port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.2)
        yield media_port, log_path
    finally:
        stop(proc)


ROUTES = [
    ("GET", f"/gb28181/{CH}.ps", b""),
    ("HEAD", f"/gb28181/{CH}.ps", b""),
    ("POST", f"/gb28181/{CH}/ptz", json.dumps({"action": "move", "pan": 1.0}).encode()),
    ("POST", f"/gb28181/{CH}/records", json.dumps({"start": "2026-12-04T00:00:00", "end": "2026-12-04T23:59:59"}).encode()),
    ("GET", "/gb28181/not-a-channel.ps", b""),  # 404 for the token holder; 401 for anyone else
    ("GET", "/metrics", b""),
    ("DELETE", f"/gb28181/{CH}.ps", b""),
]
WRONG = [
    {},  # no credentials at all
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer " + MEDIA_TOKEN[:-1]},  # one character short
    {"Authorization": "Bearer " + MEDIA_TOKEN + "x"},
    {"Authorization": "Bearer " + MEDIA_TOKEN.upper()},
    {"Authorization": _basic(MEDIA_TOKEN, "")},  # the token as user name, not password
    {"Authorization": _basic("gb", "guess-guess-guess-1")},
    {"Authorization": "Basic !!!not-base64!!!"},
    {"Authorization": "Token " + MEDIA_TOKEN},  # an unknown scheme
    {"X-Token": MEDIA_TOKEN},
    {"Cookie": "token=" + MEDIA_TOKEN},
    {"Authorization": "Bearer " + "A" * 8000},
]


def _request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_without_the_right_token_every_route_but_health_is_refused(worker: tuple[int, Path]) -> None:
    port, log_path = worker
    assert raw(port, b"GET /health HTTP/1.1\r\n\r\n")[0] == 200  # a load balancer's probe needs nothing
    for method, path, body in ROUTES:
        for headers in WRONG:
            status, answer = raw(port, _request(method, path, body, headers))
            assert status == 401, (method, path, headers.keys(), answer[:300])
            assert MEDIA_TOKEN.encode() not in answer and b"34020000001320000001" not in answer.split(b"\r\n\r\n", 1)[1]
        # the token in the query string is not a credential either (it would end up in access logs)
        status, _ = raw(port, _request(method, f"{path}?token={MEDIA_TOKEN}", body, {}))
        assert status == 401
    status, answer = raw(port, _request("GET", f"/gb28181/{CH}.ps", b"", {}))
    assert b'WWW-Authenticate: Basic realm="xueliang-gb28181"' in answer  # FFmpeg answers this challenge
    # nothing the attacker sent as a token reaches the worker's log
    text = log_path.read_text(errors="replace")
    assert MEDIA_TOKEN not in text and "guess-guess-guess-1" not in text
    assert "wrong token" in text  # a guess is logged (one line per 10 s, with the count)


def test_the_right_token_gets_through_and_is_never_echoed(worker: tuple[int, Path]) -> None:
    port, log_path = worker
    for auth in ("Bearer " + MEDIA_TOKEN, _basic("gb", MEDIA_TOKEN), _basic("anyone", MEDIA_TOKEN)):
        # an unknown channel: the worker answers the holder what it knows (no catalog yet) — not 401
        status, answer = raw(port, _request("GET", f"/gb28181/{CH}.ps", b"", {"Authorization": auth}), timeout=15)
        assert status == 503, answer[:300]
        status, answer = raw(port, _request("POST", f"/gb28181/{CH}/ptz", json.dumps({"action": "stop"}).encode(),
                                            {"Authorization": auth}), timeout=15)
        assert status == 409, answer[:300]
        assert raw(port, _request("GET", "/gb28181/not-a-channel.ps", b"", {"Authorization": auth}))[0] == 404
        assert MEDIA_TOKEN.encode() not in answer
    assert MEDIA_TOKEN not in log_path.read_text(errors="replace")


def test_the_worker_does_not_start_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_worker`` (what ``xueliang gb28181 run`` calls) refuses before opening a socket or the database."""
    import argparse

    from xueliang.gb28181_worker import run_worker

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'gb.db'}")
    args = argparse.Namespace(port=0, media_host="127.0.0.1", media_port=0, media_mode="udp", cameras=None)
    for token in (None, "s3cr3t-x", "has spaces in it but is long enough"):
        if token is None:
            monkeypatch.delenv("XUELIANG_GB28181_MEDIA_TOKEN", raising=False)
        else:
            monkeypatch.setenv("XUELIANG_GB28181_MEDIA_TOKEN", token)
        with pytest.raises(SystemExit) as refused:
            run_worker(args)
        message = str(refused.value)
        assert "XUELIANG_GB28181_MEDIA_TOKEN" in message and (token is None or token not in message)
    assert not (tmp_path / "gb.db").exists()
