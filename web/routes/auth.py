"""Login, logout and "who am I"."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from web.auth import issue_token, verify_password
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


@router.post("/login", response_model=TokenOut, summary="Exchange username and password for an access token")
async def login(body: LoginIn, request: Request, response: Response) -> TokenOut:
    ctx: AppContext = get_ctx(request)
    ip = client_ip(request)
    wait = await ctx.limiter.retry_after(body.username, ip)
    if wait:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins for this account from this address; try again in {wait}s",
            headers={"Retry-After": str(wait)},
        )
    # argon2 verification is deliberately slow: keep it off the event loop.
    user = await asyncio.to_thread(ctx.store.get_user, body.username)
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, body.password)
    if not ok or user is None or not user.active:
        await ctx.limiter.record_failure(body.username, ip)
        log.info("failed login for %r from %s", body.username, ip)  # never the password
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    role = parse_role(user.role)
    if role is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"account has unknown role {user.role!r}; ask an administrator")
    await ctx.limiter.reset(body.username, ip)
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


@router.post("/logout", status_code=204, summary="Forget the session cookie")
def logout(response: Response, user: Principal = Depends(current_user)) -> Response:
    response.delete_cookie(COOKIE_NAME, path="/")
    response.status_code = 204
    return response


@router.get("/me", summary="The logged-in user, role, scope and permissions")
def me(user: Principal = Depends(current_user)) -> dict:
    return user.public_dict()
