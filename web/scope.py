"""Roles and jurisdiction scope: who may see and do what.

A jurisdiction code's prefix is its ancestor (county 330381 → township 330381101 →
village 330381101201 → grid 330381101201001), so "inside X's subtree" is a prefix test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    COUNTY_OPERATOR = "county_operator"
    TOWNSHIP_OPERATOR = "township_operator"
    VILLAGE_OPERATOR = "village_operator"
    RESPONDER = "responder"
    VIEWER = "viewer"


OPERATOR_ROLES = frozenset({Role.ADMIN, Role.COUNTY_OPERATOR, Role.TOWNSHIP_OPERATOR, Role.VILLAGE_OPERATOR})


class Permission(StrEnum):
    READ = "read"                    # see cameras, incidents, reports in scope
    HANDLE_INCIDENTS = "handle"      # classify, dispatch, escalate, close ...
    RESPOND = "respond"              # accept / arrive / resolve own assignments
    CONTROL_CAMERAS = "ptz"          # move PTZ cameras
    ADMINISTER = "admin"             # manage users


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.COUNTY_OPERATOR: frozenset({Permission.READ, Permission.HANDLE_INCIDENTS, Permission.CONTROL_CAMERAS}),
    Role.TOWNSHIP_OPERATOR: frozenset({Permission.READ, Permission.HANDLE_INCIDENTS, Permission.CONTROL_CAMERAS}),
    Role.VILLAGE_OPERATOR: frozenset({Permission.READ, Permission.HANDLE_INCIDENTS, Permission.CONTROL_CAMERAS}),
    Role.RESPONDER: frozenset({Permission.READ, Permission.RESPOND}),
    Role.VIEWER: frozenset({Permission.READ}),
}


def parse_role(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def covers(scope_code: str, jurisdiction_code: str | None) -> bool:
    """True when ``jurisdiction_code`` lies in the subtree rooted at ``scope_code``.

    An object without a jurisdiction is visible only to a user whose scope is the root
    (empty code) — never silently to everyone.
    """
    if not scope_code:
        return True
    return jurisdiction_code is not None and jurisdiction_code.startswith(scope_code)


@dataclass(frozen=True)
class Principal:
    """The authenticated user for one request."""

    username: str
    role: Role
    jurisdiction_code: str
    user_id: int | None = None
    display_name: str | None = None
    responder_id: int | None = None
    token_id: str | None = None      # the token's jti (logout revokes it)
    expires_at: int | None = None    # the token's expiry (unix seconds): open sockets close then

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    def covers(self, jurisdiction_code: str | None) -> bool:
        return covers(self.jurisdiction_code, jurisdiction_code)

    def public_dict(self) -> dict:
        return {
            "username": self.username,
            "display_name": self.display_name or self.username,
            "role": self.role.value,
            "jurisdiction_code": self.jurisdiction_code,
            "responder_id": self.responder_id,
            "permissions": sorted(p.value for p in ROLE_PERMISSIONS.get(self.role, frozenset())),
        }
