"""FastAPI dependencies: the app context, the authenticated principal, permission checks, and the
one scope check every id in a request passes (incidents, responders, jurisdictions).

Ids are bounded at the edge (:data:`IdPath`, :data:`IdQuery`, :data:`BodyId`): a number the database
cannot hold answers 422, never 500. Anything outside the caller's scope answers 404, exactly like
something that does not exist, so an answer never reveals what lies outside the scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, WebSocket, status
from pydantic import Field

from command import IncidentDetail

from web.auth import TokenError, decode_token
from web.context import AppContext
from web.errors import ApiError
from web.scope import Permission, Principal, Role, covers, parse_role

# Primary keys are 32-bit INTEGER columns on PostgreSQL; SQLite overflows above 2^63.
MAX_ID = 2**31 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="an id (1 … 2^31-1)")]
IdQuery = Annotated[int, Query(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]

COOKIE_NAME = "xl_token"
# The cookie is accepted only for reads (so <img src> and <video src> work); anything
# that changes state must carry the token in the Authorization header, which a
# cross-site form or image cannot do — that is the CSRF defence.
COOKIE_METHODS = frozenset({"GET", "HEAD"})


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def _unauthorized(detail: str, message: str = "登录已失效，请重新登录。") -> ApiError:
    return ApiError(status.HTTP_401_UNAUTHORIZED, "unauthorized", message, detail=detail,
                    headers={"WWW-Authenticate": "Bearer"})


def token_from_request(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    if request.method in COOKIE_METHODS:
        return request.cookies.get(COOKIE_NAME)
    return None


def principal_from_token(ctx: AppContext, token: str | None) -> Principal:
    """Decode the token and re-read the user, so a disabled account stops at once."""
    if not token:
        raise _unauthorized("not logged in: POST /api/auth/login first", "未登录，请先登录。")
    try:
        claims = decode_token(ctx.secret_key, token)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from exc
    if claims.token_id and ctx.revocations.is_revoked(claims.token_id):
        raise _unauthorized("token revoked by logout: log in again", "已退出登录，请重新登录。")
    user = ctx.store.get_user(claims.username)
    if user is None or not user.active:
        raise _unauthorized("account no longer exists or is disabled", "账号不存在或已停用。")
    role = parse_role(user.role)
    if role is None:
        raise ApiError(status.HTTP_403_FORBIDDEN, "unknown_role", "账号角色无效，请联系管理员。",
                       detail=f"account has unknown role {user.role!r}; ask an administrator")
    # A responder binding counts only inside the account's own scope: an account bound to another
    # township's unit (however it was created) must not read that unit's incidents.
    responder_id = user.responder_id
    if responder_id is not None and not covers(user.jurisdiction_code, user.responder_jurisdiction_code):
        responder_id = None
    return Principal(
        username=user.username,
        role=role,
        jurisdiction_code=user.jurisdiction_code,
        user_id=user.id,
        display_name=user.display_name,
        responder_id=responder_id,
        token_id=claims.token_id,
        expires_at=claims.expires_at,
    )




def current_user(request: Request) -> Principal:
    # A sync dependency: FastAPI runs it in the threadpool, so the DB read does not block the loop.
    ctx = get_ctx(request)
    principal = principal_from_token(ctx, token_from_request(request))
    request.state.principal = principal
    return principal


def websocket_token(websocket: WebSocket) -> str | None:
    return websocket.query_params.get("token") or websocket.cookies.get(COOKIE_NAME)


def require(permission: Permission) -> Callable[[Principal], Principal]:
    def check(user: Principal = Depends(current_user)) -> Principal:
        if not user.can(permission):
            raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden", "您的角色无权执行此操作。",
                           detail=f"role {user.role.value} may not do this (needs '{permission.value}')")
        return user

    check.__name__ = f"require_{permission.value}"
    return check


def can_see_incident(user: Principal, jurisdiction_code: str | None, assigned_responder_ids: Iterable[int] | None) -> bool:
    """The one rule for incidents. A responder account sees only incidents actively assigned to its
    own unit; any other account sees its subtree, plus what is assigned to the unit it is bound to."""
    assigned_to_me = user.responder_id is not None and user.responder_id in (assigned_responder_ids or ())
    if user.role == Role.RESPONDER:
        return assigned_to_me
    return user.covers(jurisdiction_code) or assigned_to_me


def not_found(what: str) -> ApiError:
    return ApiError(status.HTTP_404_NOT_FOUND, "not_found", f"未找到{what}，或不在您的管辖范围内。",
                    detail=f"{what} not found")


def in_scope_or_404(user: Principal, jurisdiction_code: str | None, what: str) -> None:
    """Objects outside the user's subtree answer 404, so their existence is not revealed."""
    if not user.covers(jurisdiction_code):
        raise not_found(what)


def visible_incident(ctx: AppContext, user: Principal, incident_id: int) -> IncidentDetail:
    """The incident if ``user`` may see it; 404 otherwise (existence is not revealed)."""
    if not 1 <= incident_id <= MAX_ID:
        raise not_found(f"事件 {incident_id}")
    incident = ctx.store.get_incident(incident_id)
    if incident is None or not can_see_incident(user, incident.jurisdiction_code, incident.assigned_responder_ids):
        raise not_found(f"事件 {incident_id}")
    return incident


def visible_responder(ctx: AppContext, user: Principal, responder_id: int) -> dict[str, Any]:
    """The responder if it lies in ``user``'s subtree or is the unit the account is bound to; 404 otherwise."""
    item = ctx.store.get_responder(responder_id) if 1 <= responder_id <= MAX_ID else None
    if item is None or not (user.covers(item["jurisdiction_code"]) or user.responder_id == responder_id):
        raise not_found(f"处置力量 {responder_id}")
    return item


def responders_in_scope(ctx: AppContext, user: Principal, responder_ids: Iterable[int]) -> list[int]:
    """Every id must be a responder inside ``user``'s subtree (dispatch, account binding); 404 names the first that is not."""
    ids = list(responder_ids)
    for responder_id in ids:
        item = ctx.store.get_responder(responder_id) if 1 <= responder_id <= MAX_ID else None
        if item is None or not user.covers(item["jurisdiction_code"]):
            raise not_found(f"处置力量 {responder_id}")
    return ids


def jurisdiction_in_scope(user: Principal, code: str | None) -> str:
    """``code`` (default: the user's own) if inside the user's subtree; 404 otherwise."""
    code = code or user.jurisdiction_code
    if not user.covers(code):
        raise not_found(f"辖区 {code}")
    return code
