"""User accounts (the web package hashes passwords and issues tokens; this stores them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from command.jurisdictions import validate_code
from command.models import Responder, User

ROLES = ("admin", "county_operator", "township_operator", "village_operator", "responder", "viewer")
OPERATOR_ROLES = ("admin", "county_operator", "township_operator", "village_operator")


class AccountError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


def create_user(
    session: Session,
    username: str,
    password_hash: str,
    role: str,
    jurisdiction_code: str,
    *,
    display_name: str = "",
    responder_id: int | None = None,
    active: bool = True,
) -> User:
    """Add a user (flushed, not committed). Raises :class:`AccountError` on bad input or a taken name."""
    if not username or len(username) > 64 or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise AccountError(f"username {username!r}: use 1-64 letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    validate_code(jurisdiction_code)
    if not password_hash:
        raise AccountError("password_hash is empty; hash the password before storing the user")
    if role == "responder" and responder_id is None:
        raise AccountError("a responder account needs responder_id (the responder it acts for)")
    if responder_id is not None and session.get(Responder, responder_id) is None:
        raise AccountError(f"responder_id {responder_id} does not exist")
    if get_user(session, username) is not None:
        raise AccountError(f"username {username!r} is already taken")
    user = User(
        username=username,
        password_hash=password_hash,
        role=role,
        jurisdiction_code=jurisdiction_code,
        display_name=display_name or username,
        responder_id=responder_id,
        active=active,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def get_user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def list_users(session: Session, scope_code: str | None = None) -> list[User]:
    """Users whose jurisdiction lies inside ``scope_code`` (all when None)."""
    query = select(User).order_by(User.username)
    if scope_code:
        query = query.where(User.jurisdiction_code.startswith(scope_code))
    return list(session.scalars(query))


def set_password_hash(session: Session, username: str, password_hash: str) -> User:
    user = get_user(session, username)
    if user is None:
        raise AccountError(f"no user named {username!r}")
    user.password_hash = password_hash
    session.flush()
    return user


def set_active(session: Session, username: str, active: bool) -> User:
    user = get_user(session, username)
    if user is None:
        raise AccountError(f"no user named {username!r}")
    user.active = active
    session.flush()
    return user
