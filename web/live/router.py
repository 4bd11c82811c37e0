"""FastAPI routes for live view (mounted under ``/api/live`` by the web app).

    POST   /api/live/{camera_id}/offer                 SDP offer → SDP answer (+ session id); ?stream=sub
    DELETE /api/live/{camera_id}/sessions/{session_id}  close one viewer
    GET    /api/live/stats                             upstreams and viewers of cameras in scope
    GET    /api/live/static/live.js                    the browser helper (public asset, no data)

Authentication and scope are injected: ``auth_dependency`` is the app's token check
(e.g. ``web.deps.current_user``) and ``camera_lookup(camera_id, user)`` returns the
camera's stream URL only when the user may see it — ``None`` answers 404 whether the
camera is unknown or out of scope, so ids outside one's jurisdiction cannot be probed.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from web.live.sessions import LiveConfig, LiveError, LiveSessions, Mode
from web.live.sources import SourceOptions, SourceRegistry

STATIC_DIR = Path(__file__).with_name("static")


@dataclass(frozen=True)
class LiveCamera:
    """What live view needs to know about a camera. ``url`` carries credentials: never log or return it."""

    id: str
    url: str = field(repr=False)


CameraLookup = Callable[[str, Any], "LiveCamera | None | Awaitable[LiveCamera | None]"]


class OfferIn(BaseModel):
    sdp: str = Field(min_length=10, max_length=64_000, description="the browser's SDP offer, ICE gathering complete")
    type: Literal["offer"] = "offer"


class AnswerOut(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    session_id: str
    mode: Mode = Field(description="passthrough: the camera's H.264 as is; transcode: decoded and re-encoded once per camera")
    stream: Literal["main", "sub"] = Field(description="the camera stream asked for")
    codec: str = Field(description="what the browser receives: h264 or vp8")
    reason: str = Field(description="why this mode (e.g. the camera sends B-frames or H.265)")


class ReportIn(BaseModel):
    frames_received: int = Field(ge=0, description="inbound-rtp framesReceived from getStats()")
    frames_decoded: int = Field(ge=0, description="inbound-rtp framesDecoded from getStats()")


class ReportOut(BaseModel):
    action: Literal["transcode", "switched"] | None = Field(
        None, description="transcode: passthrough stalls in this browser; reconnect with mode=transcode. "
                          "switched: the server already moved this viewer to the transcode (from the browser's "
                          "RTCP feedback); nothing to do")


def _user_name(user: Any) -> str:
    return str(getattr(user, "username", None) or getattr(user, "id", None) or user)


def _accepts_stream(camera_lookup: CameraLookup) -> bool:
    try:
        return "stream" in inspect.signature(camera_lookup).parameters
    except (TypeError, ValueError):
        return False


async def _lookup(camera_lookup: CameraLookup, camera_id: str, user: Any, stream: str | None = None) -> LiveCamera:
    camera = camera_lookup(camera_id, user, stream=stream) if stream else camera_lookup(camera_id, user)
    if inspect.isawaitable(camera):
        camera = await camera
    if camera is None:
        raise HTTPException(404, f"camera {camera_id!r} not found in your jurisdiction")
    return camera


def make_router(
    auth_dependency: Callable[..., Any],
    camera_lookup: CameraLookup,
    *,
    sessions: LiveSessions | None = None,
    config: LiveConfig | None = None,
    source_options: SourceOptions | None = None,
    grace_s: float = 10.0,
    known_cameras: Callable[[Any], Iterable[str]] | None = None,
    upstream: Literal["relay", "player"] = "relay",
    relay: Any | None = None,
) -> APIRouter:
    """Build the live-view router. The app must close its sessions and upstreams on shutdown:
    ``await router.live.close_all()`` in its lifespan.

    ``known_cameras(user)`` is optional and lets ``/stats`` list cameras that have no viewer.
    ``upstream="relay"`` (default) takes packets from ingest's ``LiveRelay`` (pass ``relay`` to
    share the app's, so live view and clips use one camera session); ``"player"`` uses aiortc's
    MediaPlayer directly (no ingest needed).
    """
    live = sessions or LiveSessions(make_upstreams(upstream, grace_s=grace_s, options=source_options,
                                                   relay=relay), config)
    router = APIRouter(tags=["live"])
    lookup_takes_stream = _accepts_stream(camera_lookup)
    router.live = live  # type: ignore[attr-defined]  # so the app can close sessions on shutdown

    @router.post("/{camera_id}/offer", response_model=AnswerOut, summary="Start a WebRTC live view")
    async def offer(
        camera_id: str,
        body: OfferIn,
        mode: Literal["auto", "transcode", "passthrough"] = Query(
            "auto", description="transcode forces the fallback; passthrough skips the stream checks (diagnosis)"),
        stream: Literal["main", "sub"] = Query(
            "main", description="sub: the camera's sub-stream (multi-tile walls); main where the camera has none"),
        user: Any = Depends(auth_dependency),
    ) -> AnswerOut:
        if stream == "sub" and not lookup_takes_stream:
            stream = "main"  # this deployment's lookup knows main streams only
        camera = await _lookup(camera_lookup, camera_id, user, stream if stream != "main" else None)
        fallback = None
        if stream == "main" and lookup_takes_stream:
            sub = await _lookup(camera_lookup, camera_id, user, "sub")
            fallback = sub.url if sub.url != camera.url else None
        try:
            session, answer = await live.open(camera.id, camera.url, body.sdp, owner=_user_name(user),
                                              force_transcode=mode == "transcode", stream=stream,
                                              fallback_url=fallback, force_passthrough=mode == "passthrough")
        except LiveError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        return AnswerOut(sdp=answer.sdp, session_id=session.id, mode=session.mode, stream=stream,
                         codec=session.codec, reason=session.reason)

    @router.post("/{camera_id}/sessions/{session_id}/report", response_model=ReportOut,
                 summary="A viewer's decode statistics; answers whether to switch to transcode")
    async def report(camera_id: str, session_id: str, body: ReportIn, user: Any = Depends(auth_dependency)) -> ReportOut:
        session = live.get(session_id)
        if session is None or session.camera_id != camera_id or session.owner != _user_name(user):
            raise HTTPException(404, "no such live session for this camera and user")
        return ReportOut(action=live.report(session_id, body.frames_received, body.frames_decoded))

    @router.delete("/{camera_id}/sessions/{session_id}", status_code=204, summary="Stop a live view")
    async def close(camera_id: str, session_id: str, user: Any = Depends(auth_dependency)) -> None:
        session = live.get(session_id)
        if session is None:
            return  # idempotent: the browser's DELETE often races the server noticing the closed connection
        if session.camera_id != camera_id or session.owner != _user_name(user):
            raise HTTPException(404, "no such live session for this camera and user")
        await live.close(session_id)

    @router.get("/stats", summary="Live-view upstreams and viewers of cameras in your scope")
    async def stats(user: Any = Depends(auth_dependency)) -> dict:
        snapshot: dict[str, dict] = {}
        for key, value in live.sources.snapshot().items():
            cid, _, stream = key.partition("#")
            entry = snapshot.setdefault(cid, {"viewers": 0, "state": "idle"})
            if stream:
                entry[f"{stream}_stream"] = value
            else:
                entry.update(value)
        if known_cameras is not None:
            # Scope from the directory: no secrets resolved just to draw a status table.
            allowed = set(known_cameras(user))
        else:
            allowed = set()
            for cid in snapshot:
                try:
                    camera = camera_lookup(cid, user)
                    if inspect.isawaitable(camera):
                        camera = await camera
                except HTTPException:
                    camera = None
                if camera is not None:
                    allowed.add(cid)
        visible = {}
        for cid in sorted(allowed):
            visible[cid] = dict(snapshot.get(cid, {"viewers": 0, "state": "idle"}))
            visible[cid]["sessions"] = [s.public_dict() for s in live.sessions_for(cid)]
        return {"cameras": visible, "sessions": len(live)}

    @router.get("/static/live.js", include_in_schema=False)
    async def live_js() -> FileResponse:
        # A static asset without data, like the login page's own scripts: no token needed.
        return FileResponse(STATIC_DIR / "live.js", media_type="text/javascript")

    return router


def make_upstreams(kind: str, *, grace_s: float = 10.0, options: SourceOptions | None = None,
                   relay: Any | None = None) -> Any:
    """The per-camera upstream registry: ``relay`` (ingest.LiveRelay) or ``player`` (aiortc MediaPlayer)."""
    if kind == "relay":
        from web.live.relay_upstream import RelayUpstreams

        queue = (options or SourceOptions()).viewer_queue_packets
        return RelayUpstreams(relay, grace_s=grace_s, viewer_queue_packets=queue)
    if kind == "player":
        return SourceRegistry(grace_s=grace_s, options=options)
    raise ValueError(f"unknown live upstream {kind!r}: use 'relay' or 'player'")


def registry_lookup(
    cameras: Callable[[str], Any],
    can_view: Callable[[Any, Any], bool],
    default_stream: str = "main",
) -> CameraLookup:
    """Adapt a ``devices`` registry: ``cameras(camera_id) -> Camera | None`` and
    ``can_view(user, camera)`` (e.g. ``user.covers(camera.jurisdiction)``).

    The URL is resolved with secrets only here, at connect time (``stream_url(..., resolve_secrets=True)``).
    The returned lookup takes an optional ``stream`` ("main" | "sub"); a wrapper around it must
    pass ``stream`` through for ``?stream=sub`` to work (otherwise the main stream is served).
    """

    def lookup(camera_id: str, user: Any, stream: str | None = None) -> LiveCamera | None:
        camera = cameras(camera_id)
        if camera is None or not can_view(user, camera):
            return None
        return LiveCamera(camera_id, camera.stream_url(stream or default_stream, resolve_secrets=True))

    return lookup
