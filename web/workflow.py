"""Bridge from the web's principal to command's workflow actor and state machine."""

from __future__ import annotations

from command import Actor, IncidentView, allowed_actions

from web.scope import Permission, Principal, Role


def actor_for(user: Principal, origin: str | None = None) -> Actor:
    return Actor(user.username, user.role.value, user.jurisdiction_code, user.responder_id, origin)


def allowed_actions_for(user: Principal, incident: IncidentView) -> list[str]:
    """What the state machine lets this user do now (the desk shows only these buttons)."""
    actions = allowed_actions(incident.status, actor_for(user), incident.jurisdiction_code, incident.handling_level)
    if user.role == Role.RESPONDER and user.responder_id not in incident.assigned_responder_ids:
        return []
    # 屏蔽 (mute the camera rule) is not a state change: offered on video incidents to operators in scope.
    if incident.camera_id and user.can(Permission.HANDLE_INCIDENTS) and user.covers(incident.jurisdiction_code):
        actions.append("mute")
    return actions
