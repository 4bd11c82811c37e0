"""Accounts (admin only): list and create users inside the administrator's own subtree."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from command import AccountError, create_user
from command import list_users, set_active

from web.auth import hash_password
from web.deps import get_ctx, require
from web.scope import Permission, Principal

router = APIRouter(prefix="/api/users", tags=["users"])

RoleName = Literal["admin", "county_operator", "township_operator", "village_operator", "responder", "viewer"]


def _user_dict(u) -> dict:
    # never the password hash
    return {"id": u.id, "username": u.username, "role": u.role, "jurisdiction_code": u.jurisdiction_code,
            "display_name": u.display_name, "responder_id": u.responder_id, "active": u.active}


@router.get("", summary="Users in the administrator's subtree")
def users(request: Request, user: Principal = Depends(require(Permission.ADMINISTER))) -> dict:
    with get_ctx(request).database.session() as session:
        return {"items": [_user_dict(u) for u in list_users(session, user.jurisdiction_code)]}


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    password: str = Field(min_length=10, max_length=256)
    role: RoleName
    jurisdiction_code: str = Field(pattern=r"^\d{6}(\d{3}){0,3}$")
    display_name: str = Field("", max_length=128)
    responder_id: int | None = None


@router.post("", status_code=201, summary="Create a user inside the administrator's subtree")
async def add_user(body: UserIn, request: Request, user: Principal = Depends(require(Permission.ADMINISTER))) -> dict:
    if not user.covers(body.jurisdiction_code):
        raise HTTPException(403, "you can only create users inside your own jurisdiction")
    password_hash = await run_in_threadpool(hash_password, body.password)

    def create() -> dict:
        with get_ctx(request).database.session() as session:
            try:
                created = create_user(session, body.username, password_hash, body.role, body.jurisdiction_code,
                                      display_name=body.display_name, responder_id=body.responder_id)
            except (AccountError, ValueError) as exc:
                raise HTTPException(409, str(exc)) from exc
            return _user_dict(created)

    return await run_in_threadpool(create)


class ActiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool


@router.post("/{username}/active", summary="Enable or disable an account (takes effect on its next request)")
def set_user_active(username: str, body: ActiveIn, request: Request,
                    user: Principal = Depends(require(Permission.ADMINISTER))) -> dict:
    ctx = get_ctx(request)
    target = ctx.store.get_user(username)
    if target is None or not user.covers(target.jurisdiction_code):
        raise HTTPException(404, f"user {username!r} not found in your jurisdiction")
    if target.username == user.username:
        raise HTTPException(409, "you cannot disable your own account")
    with ctx.database.session() as session:
        return _user_dict(set_active(session, username, body.active))
