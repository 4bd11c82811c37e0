"""Accounts (admin only): list and create users inside the administrator's own subtree."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from command import AccountError, create_user
from command import User, get_user, list_users, set_active

from web.auth import hash_password
from web.deps import BodyId, get_ctx, not_found, require, visible_responder
from web.errors import ApiError, api_error
from web.scope import Permission, Principal, covers

router = APIRouter(prefix="/api/users", tags=["users"])

RoleName = Literal["admin", "county_operator", "township_operator", "village_operator", "responder", "viewer"]


def _user_dict(u: User) -> dict[str, Any]:
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
    responder_id: BodyId | None = None


@router.post("", status_code=201, summary="Create a user inside the administrator's subtree",
             responses={409: {"description": "the username is not available"}})
async def add_user(body: UserIn, request: Request, user: Principal = Depends(require(Permission.ADMINISTER))) -> dict:
    ctx = get_ctx(request)
    if not user.covers(body.jurisdiction_code):
        raise ApiError(403, "outside_scope", "只能在本辖区内创建账号。",
                       detail="you can only create users inside your own jurisdiction")
    if body.responder_id is not None:
        # The bound unit must be the administrator's and lie inside the new account's own scope:
        # a binding is what lets an account read the incidents assigned to that unit.
        responder = visible_responder(ctx, user, body.responder_id)
        if not covers(body.jurisdiction_code, responder["jurisdiction_code"]):
            raise api_error(422, "绑定的处置力量不在该账号的辖区内。", field="body.responder_id",
                            detail=f"responder {body.responder_id} lies outside {body.jurisdiction_code}")
    password_hash = await run_in_threadpool(hash_password, body.password)

    def create() -> dict:
        with ctx.database.session() as session:
            if get_user(session, body.username) is not None:
                # The same answer whoever holds the name: nothing about accounts outside the scope.
                raise ApiError(409, "username_unavailable", f"用户名 {body.username} 不可用，请换一个。",
                               detail="username not available")
            try:
                created = create_user(session, body.username, password_hash, body.role, body.jurisdiction_code,
                                      display_name=body.display_name, responder_id=body.responder_id)
            except (AccountError, ValueError) as exc:
                raise api_error(422, "账号信息不合法。", detail=str(exc)) from exc
            return _user_dict(created)

    return await run_in_threadpool(create)


class ActiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool


@router.post("/{username}/active", responses={409: {"description": "your own account"}}, summary="Enable or disable an account (takes effect on its next request)")
def set_user_active(username: Annotated[str, Path(max_length=64)], body: ActiveIn, request: Request,
                    user: Principal = Depends(require(Permission.ADMINISTER))) -> dict:
    ctx = get_ctx(request)
    target = ctx.store.get_user(username)
    if target is None or not user.covers(target.jurisdiction_code):
        raise not_found(f"用户 {username}")
    if target.username == user.username:
        raise ApiError(409, "own_account", "不能停用自己的账号。", detail="you cannot disable your own account")
    with ctx.database.session() as session:
        return _user_dict(set_active(session, username, body.active))
