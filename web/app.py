"""``create_app(settings) -> FastAPI``: the web process, with no module-level state."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from command import open_database
from devices import DEVICE_POSITION, SecretError, mask_url
from xueliang.settings import Settings

from web.access_log import AccessLog
from web.auth import MIN_SECRET_KEY_LENGTH, LoginRateLimiter, TokenRevocations
from web.cameras import CameraDirectory, load_cameras
from web.context import AppContext
from web.deps import current_user
from web.device_status import DeviceStatusBoard
from web.errors import document_errors, install_error_handlers
from web.events import EventHub
from web.limits import BodySizeLimit
from web.metrics import RequestMetrics, WebMetrics
from web.mobile import PositionBoard, mobile_tracker
from web.routes import (
    actions,
    alarms,
    auth,
    devices,
    handover,
    incidents,
    intake,
    jurisdictions,
    mobile,
    reports,
    responders,
    risk,
    search,
    system,
    users,
    ws,
)
from web.routes import cameras as camera_routes
from web.scope import Principal
from web.store import Store

if TYPE_CHECKING:
    from web.live import LiveCamera  # aiortc and PyAV: loaded by _live_router when the app is built

log = logging.getLogger("web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_JSON_BODY = 1 * 1024 * 1024       # JSON bodies
MAX_UPLOAD_BODY = 12 * 1024 * 1024    # a whole multipart request: photos (10 MiB each) or a work-order import (8 MiB)

# Everything is served from this origin; nothing loads from a CDN or map-tile server.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class ConfigError(RuntimeError):
    """The web process cannot start with this configuration; the message says what to set."""


def _check_secret(settings: Settings) -> str:
    key = settings.secret_key
    if not key:
        raise ConfigError(
            "XUELIANG_SECRET_KEY is not set: export a long random value "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`); "
            "`xueliang demo` sets one for you"
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"XUELIANG_SECRET_KEY is too short ({len(key)} chars); use at least {MIN_SECRET_KEY_LENGTH}")
    return key


def create_app(settings: Settings, *, cookie_secure: bool = False) -> FastAPI:
    """Build the web app for ``settings``; Redis and the database are opened at startup.

    Refuses to build without ``settings.secret_key`` (the demo launcher passes its own).
    """
    secret_key = _check_secret(settings)
    redis_url = settings.redis_url
    if not redis_url:
        raise ConfigError("REDIS_URL is not set: the web process needs the Redis that carries xl:events")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from devices.onvif import OnvifClientPool  # zeep: loaded when the app starts, not when web is imported

        redis_client, redis_sync = _redis_clients(redis_url)
        database = open_database(settings.resolved_database_url())
        store = Store(database.sessionmaker, settings.media_dir)
        hub = EventHub(redis_client)
        board = DeviceStatusBoard()
        positions = PositionBoard(mobile_tracker(cameras.registry, database.engine))
        ctx = AppContext(
            settings=settings,
            secret_key=secret_key,
            redis=redis_client,
            redis_sync=redis_sync,
            database=database,
            store=store,
            hub=hub,
            limiter=LoginRateLimiter(redis_client),
            revocations=TokenRevocations(redis_sync, redis_client),
            cameras=cameras,
            device_status=board,
            mobile=positions.tracker,
            onvif=OnvifClientPool(),
            cookie_secure=cookie_secure,
        )
        app.state.ctx = ctx
        try:
            head = await hub.head_id()
            await hub.replay(board, types=("device.status",), until=head)
            await hub.replay(positions, types=(DEVICE_POSITION,), until=head)  # stores what its publisher did not
            await asyncio.to_thread(positions.flush)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Serve anyway: stream ids are millisecond times, so tailing from "now" misses nothing
            # published after this start, and clients resume their own backlog from their cursor.
            head = f"{int(time.time() * 1000)}-0"
            log.warning("Redis unreachable at start-up (%s); live events resume when it is back, "
                        "device and position boards fill from new events", exc)
        hub.add_listener(board)
        hub.add_listener(positions)
        await hub.start(from_id=head)
        log.info("web ready: database %s, redis %s", database.engine.url.render_as_string(hide_password=True),
                 mask_url(redis_url))
        try:
            yield
        finally:
            await hub.stop()
            live = getattr(app.state, "live_router", None)
            if live is not None and hasattr(live, "live"):
                await live.live.close_all()
            ctx.onvif.close()
            await redis_client.aclose()
            redis_sync.close()
            database.dispose()

    app = FastAPI(
        title="雪亮 Xueliang command centre API",
        version="0.1.0",
        lifespan=lifespan,
        # No Swagger/ReDoc page: both load their assets from a CDN. The schema itself is served
        # below, to logged-in users only (every route but health and login needs a token).
        docs_url=None,
        openapi_url=None,
        redoc_url=None,
    )
    _add_openapi_route(app)
    _install_handlers(app)
    cameras = load_cameras(settings.cameras_file, settings.resolved_database_url())
    _include_routers(app, cameras)
    app.add_middleware(AccessLog)
    app.state.metrics = WebMetrics(lambda: app.state.ctx.hub.subscriber_count if hasattr(app.state, "ctx") else 0)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_JSON_BODY, upload_bytes=MAX_UPLOAD_BODY, upload_suffixes=("/photos", "/with-photos", "/import"))
    _mount_pages(app)
    return app


def _redis_clients(url: str) -> tuple[aioredis.Redis, redis.Redis]:
    """Async + sync clients that retry on a dropped connection, so a Redis restart costs a
    retry instead of failing the first request on every stale pooled connection."""
    errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]
    async_client = aioredis.Redis.from_url(url, retry=AsyncRetry(ExponentialBackoff(cap=1.0), 3), retry_on_error=errors,
                                           health_check_interval=30, socket_connect_timeout=5)
    sync_client = redis.Redis.from_url(url, retry=Retry(ExponentialBackoff(cap=1.0), 3), retry_on_error=errors,
                                       health_check_interval=30, socket_connect_timeout=5)
    return async_client, sync_client


def _add_openapi_route(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        # The real error body (web.errors.ErrorBody) for every error status, not FastAPI's default.
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(get_openapi(title=app.title, version=app.version, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def openapi_schema(_user: Principal = Depends(current_user)) -> JSONResponse:
        return JSONResponse(app.openapi())

    app.add_api_route("/api/openapi.json", openapi_schema, methods=["GET"], include_in_schema=False)


def _include_routers(app: FastAPI, cameras: CameraDirectory) -> None:
    # Every API surface is imported by name (top of this module): a missing module fails the start, loudly.
    for module in (system, auth, incidents, ws, mobile, actions, camera_routes, responders, jurisdictions, reports,
                   devices, users, intake, risk, search, handover, alarms):
        app.include_router(module.router)
    app.include_router(system.metrics_router)
    live = _live_router(cameras)
    app.include_router(live, prefix="/api/live", tags=["live"])
    app.state.live_router = live


def _live_router(cameras: CameraDirectory) -> APIRouter:
    """The live-view router (``web.live.make_router``: WebRTC signalling, stats) at /api/live, scoped by camera."""
    import web.live as live  # aiortc and PyAV: loaded when the app is built, not when web is imported

    resolve = live.registry_lookup(cameras.get, lambda user, camera: user.covers(camera.jurisdiction))

    def lookup(camera_id: str, user: Principal, stream: str | None = None) -> LiveCamera | Awaitable[LiveCamera | None] | None:
        try:
            # web.live.CameraLookup declares two parameters, but registry_lookup's lookup takes the stream too
            return resolve(camera_id, user, stream) if stream else resolve(camera_id, user)  # type: ignore[call-arg]
        except SecretError as exc:  # names the variable to export, never a value
            raise HTTPException(503, f"live view of {camera_id} is not configured: {exc}") from exc

    def configured(user: Principal) -> list[str]:
        # Cameras whose stream secrets are missing cannot be viewed; leaving them out keeps
        # /api/live/stats answering instead of failing on the first unconfigured camera.
        out = []
        for camera in cameras.in_scope(user.jurisdiction_code):
            try:
                camera.stream_url("main", resolve_secrets=True)
            except SecretError:
                continue
            out.append(camera.id)
        return out

    return live.make_router(current_user, lookup, known_cameras=configured)


def _install_handlers(app: FastAPI) -> None:
    install_error_handlers(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith("/api/") and "cache-control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response


PAGES = ("index", "wall", "desk", "map", "responder", "reports", "devices")


def _mount_pages(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def page(name: str) -> Callable[[], Awaitable[FileResponse]]:
        async def serve() -> FileResponse:
            return FileResponse(STATIC_DIR / f"{name}.html", headers={"Cache-Control": "no-cache"})

        serve.__name__ = f"page_{name}"
        return serve

    app.add_api_route("/", page("index"), include_in_schema=False, methods=["GET"])
    for name in PAGES[1:]:
        if (STATIC_DIR / f"{name}.html").exists():
            app.add_api_route(f"/{name}", page(name), include_in_schema=False, methods=["GET"])
