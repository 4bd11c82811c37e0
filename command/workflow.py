"""The incident state machine: states, transitions, and who may perform each.

received (受理) → classified (分类登记) → dispatched (分流转办) → acknowledged →
on_scene → resolved (办结) → evaluated (群众评价) → revisited (回访) → closed,
plus false_alarm, rejected (back to the dispatcher), reopened and escalated.
A refused transition raises :class:`TransitionRefused` with the reason; the
web maps it to HTTP 409.
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = (
    "received", "classified", "dispatched", "acknowledged", "on_scene", "resolved",
    "evaluated", "revisited", "closed", "false_alarm", "rejected", "reopened", "escalated",
)
# The one glossary of status names: desk (web/static/i18n/zh-CN.json "status.*"), reports, CSV and
# PDF all say these words (tests/web/test_glossary.py keeps the desk's file equal to them).
STATE_LABELS = {
    "received": "已受理", "classified": "已分类", "dispatched": "已派单", "acknowledged": "已签收",
    "on_scene": "已到场", "resolved": "已办结", "evaluated": "已评价", "revisited": "已回访",
    "closed": "已结案", "false_alarm": "误报", "rejected": "已退回", "reopened": "重新打开", "escalated": "已上报",
}
CLOSED_STATES = frozenset({"closed", "false_alarm"})
# Open = still needs work from someone; resolved/evaluated/revisited wait only on the citizen/centre.
WORKING_STATES = frozenset({"received", "classified", "dispatched", "acknowledged", "on_scene", "rejected", "reopened", "escalated"})
# An assignment that still binds its unit (the others are done, rejected, cancelled or expired).
ACTIVE_ASSIGNMENT_STATES = ("pending", "acknowledged")

SYSTEM_ROLE = "system"
OPERATORS = frozenset({"admin", "county_operator", "township_operator", "village_operator"})
SENIOR_OPERATORS = frozenset({"admin", "county_operator", "township_operator"})
RESPONDER = frozenset({"responder"})


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (role + jurisdiction scope) or the system worker."""

    username: str
    role: str
    jurisdiction_code: str
    responder_id: int | None = None
    origin: str | None = None  # client IP, worker name, import file

    @classmethod
    def system(cls, origin: str = "command-worker") -> Actor:
        return cls("system", SYSTEM_ROLE, "", None, origin)


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str | None  # None: the status stays (督办 raises the handling level only)
    roles: frozenset[str]
    label: str


def _t(action: str, sources: set[str] | frozenset[str], target: str | None, roles: frozenset[str], label: str) -> Transition:
    return Transition(action, frozenset(sources), target, roles, label)


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("classify", {"received", "reopened"}, "classified", OPERATORS | {SYSTEM_ROLE}, "分类登记"),
        _t("dispatch", {"classified", "rejected", "reopened", "escalated"}, "dispatched", OPERATORS | {SYSTEM_ROLE}, "分流转办"),
        _t("acknowledge", {"dispatched"}, "acknowledged", RESPONDER | OPERATORS, "签收"),
        _t("arrive", {"acknowledged"}, "on_scene", RESPONDER | OPERATORS, "到场"),
        _t("reject", {"dispatched", "acknowledged"}, "rejected", RESPONDER | OPERATORS, "退回"),
        _t("resolve", {"acknowledged", "on_scene"}, "resolved", RESPONDER | OPERATORS, "办结"),
        _t("evaluate", {"resolved"}, "evaluated", OPERATORS, "群众评价"),
        _t("revisit", {"evaluated"}, "revisited", OPERATORS, "回访"),
        _t("close", {"evaluated", "revisited"}, "closed", SENIOR_OPERATORS, "结案"),
        _t("false_alarm", {"received", "classified", "dispatched", "acknowledged", "on_scene", "escalated", "rejected"}, "false_alarm", OPERATORS, "误报"),
        _t("reopen", {"resolved", "evaluated", "revisited", "closed", "false_alarm"}, "reopened", SENIOR_OPERATORS, "重新打开"),
        _t("escalate", WORKING_STATES, "escalated", OPERATORS | {SYSTEM_ROLE}, "上报上级"),
        # the SLA timer's 督办 escalation of an overdue incident (command.supervision): audited as "escalate"
        _t("raise_level", WORKING_STATES, None, frozenset({SYSTEM_ROLE}), "督办升级"),
    )
}


CONFLICT_REASON = "已被他人处理"


class TransitionRefused(Exception):
    """An action that is not allowed now; ``reason`` says why (HTTP 409 at the API).

    ``kind`` is one of ``unknown_action``, ``state``, ``role``, ``scope``, ``precondition``,
    ``conflict`` (someone else acted on the incident first: reason :data:`CONFLICT_REASON`).
    """

    def __init__(self, action: str, status: str | None, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.action = action
        self.status = status
        self.reason = reason
        self.kind = kind

    def to_dict(self) -> dict[str, str | None]:
        return {"action": self.action, "status": self.status, "reason": self.reason, "kind": self.kind}


def check_transition(action: str, status: str, actor: Actor, jurisdiction_code: str) -> Transition:
    """The transition for ``action`` from ``status`` by ``actor``, or :class:`TransitionRefused`."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionRefused(action, status, f"unknown action {action!r}; known: {', '.join(TRANSITIONS)}", "unknown_action")
    if status not in transition.sources:
        allowed_from = "/".join(sorted(transition.sources))
        raise TransitionRefused(
            action, status,
            f"cannot {action} ({transition.label}) an incident that is {status} ({STATE_LABELS.get(status, status)}); "
            f"allowed only from {allowed_from}",
            "state",
        )
    if actor.role not in transition.roles:
        raise TransitionRefused(
            action, status,
            f"role {actor.role!r} may not {action}; allowed roles: {', '.join(sorted(transition.roles))}",
            "role",
        )
    # Responders act on what they are assigned to (checked by the service), wherever it is.
    if actor.role not in (SYSTEM_ROLE, "responder") and not jurisdiction_code.startswith(actor.jurisdiction_code):
        raise TransitionRefused(
            action, status,
            f"incident in {jurisdiction_code} is outside {actor.username}'s jurisdiction {actor.jurisdiction_code}",
            "scope",
        )
    return transition


def conflict(action: str, status: str | None) -> TransitionRefused:
    """The refusal of an action that lost the race (or was sent for an outdated version)."""
    return TransitionRefused(action, status, CONFLICT_REASON, "conflict")


def actor_level(actor: Actor) -> str | None:
    """The centre level an operator works at (county/township/village); None for the system and responders."""
    if actor.role in (SYSTEM_ROLE, "responder") or not actor.jurisdiction_code:
        return None
    return {6: "county", 9: "township"}.get(len(actor.jurisdiction_code), "village")


def escalation_target(handling_level: str, actor: Actor) -> str | None:
    """The level 上报上级 hands to: one above the level handling the incident now (the incident's
    level, or the acting operator's own centre when that is higher); None at the county."""
    levels = ("village", "township", "county")
    current = levels.index(handling_level) if handling_level in levels else 0
    own = actor_level(actor)
    if own is not None:
        current = max(current, levels.index(own))
    return levels[current + 1] if current + 1 < len(levels) else None


def allowed_actions(status: str, actor: Actor, jurisdiction_code: str, handling_level: str | None = None) -> list[str]:
    """Actions ``actor`` may take on an incident in ``status`` (for buttons in the UI).

    With ``handling_level``, 上报上级 is offered only where there is a level above."""
    allowed = []
    for action in TRANSITIONS:
        try:
            check_transition(action, status, actor, jurisdiction_code)
        except TransitionRefused:
            continue
        if action == "escalate" and handling_level is not None and escalation_target(handling_level, actor) is None:
            continue
        allowed.append(action)
    return allowed
