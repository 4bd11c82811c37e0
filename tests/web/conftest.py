"""A real web server (uvicorn on a free loopback port) over a real database and Valkey.

The database is migrated with command's Alembic migrations and seeded with
command's demo county (13 townships, villages, responders, users).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from xueliang.runtime import free_port
from xueliang.settings import REPO_ROOT, Settings

PASSWORD = "web-test-Passw0rd"
SECRET = "test-secret-key-0123456789abcdef-0123"
TOWNSHIP_A = "330381101"
TOWNSHIP_B = "330381102"


@dataclass
class WebServer:
    url: str
    settings: Settings
    database: object
    redis_url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def client(self, username: str | None = None, password: str = PASSWORD) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=15)
        if username:
            token = self.token(username, password)
            client.headers["Authorization"] = f"Bearer {token}"
        return client

    def responder_id(self, username: str) -> int:
        from command import get_user

        with self.database.session() as session:
            return get_user(session, username).responder_id

    def token(self, username: str, password: str = PASSWORD) -> str:
        with httpx.Client(base_url=self.url, timeout=15) as http:
            r = http.post("/api/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            return r.json()["access_token"]


class ServerThread:
    """uvicorn in a thread of the test process; ``stop`` makes it shut down gracefully."""

    def __init__(self, app, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                   access_log=False, timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("web server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "web server thread did not stop"


# The accounts the web tests rely on, created here so they do not depend on the demo seed's names.
TEST_USERS = {
    "admin_t": ("admin", "330381"),
    "admin_a": ("admin", TOWNSHIP_A),   # a township's own administrator
    "county_t": ("county_operator", "330381"),
    "op_a": ("township_operator", TOWNSHIP_A),
    "op_b": ("township_operator", TOWNSHIP_B),
    "village_a": ("village_operator", f"{TOWNSHIP_A}201"),
    "viewer_a": ("viewer", TOWNSHIP_A),
    "police_a": ("responder", TOWNSHIP_A),      # a police unit of township A
    "grid_a": ("responder", f"{TOWNSHIP_A}201001"),  # a grid worker in township A
    "police_b": ("responder", TOWNSHIP_B),
}


def seeded_database(url: str):
    from sqlalchemy import select

    from command import Responder, create_user, open_database, seed_demo
    from web import hash_password

    database = open_database(url, upgrade=True)
    with database.session() as session:
        seed_demo(session)  # tree, categories, responders (no demo users without a password)
        password_hash = hash_password(PASSWORD)
        for username, (role, code) in TEST_USERS.items():
            responder_id = None
            if role == "responder":
                kind = "police" if username.startswith("police") else "grid_worker"
                responder_id = session.scalar(select(Responder.id).where(
                    Responder.kind == kind, Responder.jurisdiction_code == code).order_by(Responder.id))
                assert responder_id is not None, f"the demo seed has no {kind} in {code}"
            create_user(session, username, password_hash, role, code, display_name=username, responder_id=responder_id)
    return database


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory: pytest.TempPathFactory, redis_server) -> Settings:
    data_dir = tmp_path_factory.mktemp("web-data")
    cameras_file = data_dir / "cameras.yaml"
    cameras_file.write_text((Path(__file__).parent / "cameras.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return Settings(
        data_dir=data_dir,
        cameras_file=cameras_file,
        database_url=f"sqlite:///{data_dir / 'web.db'}",
        redis_url=redis_server.url,
        secret_key=SECRET,
        web_port=free_port(),
    )


@pytest.fixture(scope="session")
def web_server(web_settings: Settings) -> Iterator[WebServer]:
    from web import create_app

    database = seeded_database(web_settings.resolved_database_url())
    thread = ServerThread(create_app(web_settings), web_settings.web_port)
    thread.start()
    try:
        yield WebServer(f"http://127.0.0.1:{web_settings.web_port}", web_settings, database, web_settings.redis_url)
    finally:
        thread.stop()
        database.dispose()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots(artifacts_dir) -> Path:
    """Where browser tests leave their screenshots (kept by CI as artifacts)."""
    path = artifacts_dir / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logged_in_page(browser, base_url: str, username: str, **context_args):
    """A zh-CN context logged in through the login form; ``page.errors`` collects page errors.

    Outside a network namespace no WebRTC may start (ICE would use the real interface), so
    live view is refused to these pages; tests/web/live and the wall tests cover it in a namespace.
    """
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **context_args)
    context.route("**/api/live/**", lambda route: route.abort())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#overview:not(.hidden)")
    page.errors = errors
    return context, page


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "PASSWORD", "logged_in_page", "REPO_ROOT", "TOWNSHIP_A", "TOWNSHIP_B", "WebServer", "ServerThread", "seeded_database"]
