"""Login, logout and "who am I"."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from command import name_of
from web.auth import issue_token
from web.errors import ApiError
from web.context import AppContext
from web.deps import COOKIE_NAME, current_user, get_ctx
from web.scope import Principal, parse_role

log = logging.getLogger("web.auth")
router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: int
    user: dict


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=TokenOut, summary="Exchange username and password for an access token",
             responses={429: {"description": "too many attempts for this account, from this address, or in all"}})
async def login(body: LoginIn, request: Request, response: Response) -> TokenOut:
    ctx: AppContext = get_ctx(request)
    ip = client_ip(request)
    # Counted before the password is checked: concurrent guesses cannot all get through.
    verdict = await ctx.limiter.attempt(body.username, ip)
    if not verdict.allowed:
        log.info("login for %r from %s refused: %s limit", body.username, ip, verdict.reason)
        raise ApiError(status.HTTP_429_TOO_MANY_REQUESTS, "rate_limited",
                       f"登录尝试过于频繁，请在 {verdict.retry_after_s} 秒后再试。",
                       detail=f"too many login attempts ({verdict.reason}); try again in {verdict.retry_after_s}s",
                       headers={"Retry-After": str(verdict.retry_after_s)})
    user = await asyncio.to_thread(ctx.store.get_user, body.username)
    ok = await ctx.limiter.verify(ip, user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        log.info("failed login for %r from %s", body.username, ip)  # never the password
        raise ApiError(status.HTTP_401_UNAUTHORIZED, "bad_credentials", "用户名或密码错误。",
                       detail="wrong username or password")
    role = parse_role(user.role)
    if role is None:
        raise ApiError(status.HTTP_403_FORBIDDEN, "unknown_role", "账号角色无效，请联系管理员。",
                       detail=f"account has unknown role {user.role!r}; ask an administrator")
    await ctx.limiter.succeeded(body.username, ip)
    token, expires_at = issue_token(
        ctx.secret_key,
        username=user.username,
        role=role.value,
        jurisdiction_code=user.jurisdiction_code,
        ttl_s=ctx.settings.token_ttl_s,
    )
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=ctx.settings.token_ttl_s,
        httponly=True,
        samesite="strict",
        secure=ctx.cookie_secure,
        path="/",
    )
    principal = Principal(user.username, role, user.jurisdiction_code, user.id, user.display_name, user.responder_id)
    out = principal.public_dict()
    log.info("login %s (%s, %s) from %s", user.username, role.value, user.jurisdiction_code, ip)
    return TokenOut(access_token=token, expires_at=expires_at, user=out)


@router.post("/logout", status_code=204, summary="Revoke this token and forget the session cookie")
async def logout(request: Request, response: Response, user: Principal = Depends(current_user)) -> Response:
    ctx: AppContext = get_ctx(request)
    if user.token_id and user.expires_at:
        await ctx.revocations.revoke(user.token_id, user.expires_at)
    log.info("logout %s", user.username)
    response.delete_cookie(COOKIE_NAME, path="/")
    response.status_code = 204
    return response


@router.get("/me", summary="The logged-in user, role, scope (code and name) and permissions")
def me(request: Request, user: Principal = Depends(current_user)) -> dict:
    out = user.public_dict()
    # names, not codes, where operators read them (the nav bar shows 县/乡镇 names)
    with get_ctx(request).database.session() as session:
        out["jurisdiction_name"] = name_of(session, user.jurisdiction_code) if user.jurisdiction_code else ""
    return out
