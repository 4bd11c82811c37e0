"""FastAPI dependencies: the app context, the authenticated principal, permission checks."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, WebSocket, status

from web.auth import TokenError, decode_token
from web.context import AppContext
from web.scope import Permission, Principal, parse_role

COOKIE_NAME = "xl_token"
# The cookie is accepted only for reads (so <img src> and <video src> work); anything
# that changes state must carry the token in the Authorization header, which a
# cross-site form or image cannot do — that is the CSRF defence.
COOKIE_METHODS = frozenset({"GET", "HEAD"})


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


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
        raise _unauthorized("not logged in: POST /api/auth/login first")
    try:
        claims = decode_token(ctx.secret_key, token)
    except TokenError as exc:
        raise _unauthorized(str(exc)) from exc
    user = ctx.store.get_user(claims.username)
    if user is None or not user.active:
        raise _unauthorized("account no longer exists or is disabled")
    role = parse_role(user.role)
    if role is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"account has unknown role {user.role!r}; ask an administrator")
    return Principal(
        username=user.username,
        role=role,
        jurisdiction_code=user.jurisdiction_code,
        user_id=user.id,
        display_name=user.display_name,
        responder_id=user.responder_id,
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
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not do this (needs '{permission.value}')"
            )
        return user

    check.__name__ = f"require_{permission.value}"
    return check


def can_see_incident(user: Principal, jurisdiction_code: str | None, assigned_responder_ids: list | None) -> bool:
    """In the user's subtree, or — for a responder — assigned to them wherever it is."""
    if user.covers(jurisdiction_code):
        return True
    return user.responder_id is not None and user.responder_id in (assigned_responder_ids or [])


def in_scope_or_404(user: Principal, jurisdiction_code: str | None, what: str) -> None:
    """Objects outside the user's subtree answer 404, so their existence is not revealed."""
    if not user.covers(jurisdiction_code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")
