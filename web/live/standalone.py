"""A live-view-only gateway: the ``/api/live`` router with one shared bearer token.

For benchmarks and browser tests (and a kiosk that only shows video) where the full
web app with its user database is not wanted. The token comes from the environment,
camera URLs (with credentials) from ``--camera ID=URL`` and are never printed.

    XL_LIVE_TOKEN=... python -m web.live.standalone --port 8080 --camera cam01=rtsp://127.0.0.1:8554/cam01
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from web.live.router import LiveCamera, make_router
from web.live.sessions import LiveConfig
from web.live.sources import SourceOptions

TOKEN_ENV = "XL_LIVE_TOKEN"

# A minimal page for tests and kiosks: tiles are created from the page's JS via XLLive.play.
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>实时视频</title>
<style>body{margin:0;background:#111;display:flex;flex-wrap:wrap}video{width:480px;height:360px;background:#000}</style>
<script src="/api/live/static/live.js"></script></head><body></body></html>"""


@dataclass(frozen=True)
class TokenUser:
    username: str


def bearer_auth(token: str):
    expected = token.encode()

    def check(request: Request) -> TokenUser:
        header = request.headers.get("authorization", "")
        given = header[7:].strip().encode() if header.lower().startswith("bearer ") else b""
        if not given or not hmac.compare_digest(given, expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
        return TokenUser("live")

    return check


def build_app(cameras: Mapping[str, str], token: str, *, grace_s: float = 10.0,
              source_options: SourceOptions | None = None, upstream: str = "relay",
              sub_streams: Mapping[str, str] | None = None, config: LiveConfig | None = None) -> FastAPI:
    if not token:
        raise ValueError(f"a bearer token is required: set {TOKEN_ENV}")
    urls = dict(cameras)
    subs = dict(sub_streams or {})

    def lookup(camera_id: str, _user: TokenUser, stream: str | None = None) -> LiveCamera | None:
        url = urls.get(camera_id)
        if url and stream == "sub":
            url = subs.get(camera_id, url)  # like devices: no sub-stream → the main stream
        return LiveCamera(camera_id, url) if url else None

    router = make_router(bearer_auth(token), lookup, grace_s=grace_s, source_options=source_options,
                         known_cameras=lambda _user: urls.keys(), upstream=upstream, config=config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await router.live.close_all()  # type: ignore[attr-defined]

    app = FastAPI(title="Xueliang live view", lifespan=lifespan)
    app.include_router(router, prefix="/api/live")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> dict:
        return {"ok": True}

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--camera", action="append", default=[], metavar="ID=URL")
    parser.add_argument("--sub", action="append", default=[], metavar="ID=URL", help="a camera's sub-stream")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds an unused upstream stays open")
    parser.add_argument("--upstream", choices=("relay", "player"), default="relay",
                        help="relay: ingest.LiveRelay (default); player: aiortc MediaPlayer")
    parser.add_argument("--max-transcodes", type=int, default=LiveConfig.max_transcodes,
                        help="concurrent transcoded camera streams (B-frame/H.265 cameras)")
    args = parser.parse_args(argv)
    def parse(specs: list[str], option: str) -> dict[str, str]:
        out = {}
        for spec in specs:
            cid, sep, url = spec.partition("=")
            if not sep or not cid or not url:
                parser.error(f"{option} expects ID=URL, got {cid or spec!r}=…")  # never echo the URL
            out[cid] = url
        return out

    cameras, subs = parse(args.camera, "--camera"), parse(args.sub, "--sub")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(cameras, os.environ.get(TOKEN_ENV, ""), grace_s=args.grace, upstream=args.upstream,
                    sub_streams=subs, config=LiveConfig(max_transcodes=args.max_transcodes))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
