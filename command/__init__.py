"""command: the centre's business — incidents, intake, workflow, dispatch, supervision, reports.

Other packages import only from here (``command.accounts`` is the users module).
All service functions take a SQLAlchemy ``Session`` (from ``Database.session()``),
flush but do not commit, and take ``now`` for a controllable clock.
"""

from command import accounts, handover
from command.accounts import OPERATOR_ROLES, ROLES, AccountError, create_user, get_user, list_users, set_active
from command import alarms
from command.alarms import AlarmError
from command.catalog import COLOUR_HEX, COLOUR_NAMES, COLOUR_POLICY, COLOURS, SEVERITIES, SOURCES
from command.corpus import fill_search_corpus
from command.db import Database, open_database
from command.device_faults import DEVICE_FAULT_GROUP, DeviceFaultConsumer
from command.dispatch import (
    ASSIGNMENT_LABELS,
    Recommendation,
    list_responders,
    recommend_responders,
    responder_history,
    update_responder_position,
)
from command.incidents import (
    MERGE_WINDOW,
    IncidentFilter,
    IntakeResult,
    NotFound,
    Evidence,
    EvidenceItem,
    audit,
    evidence_source_path,
    get_incident,
    incident_evidence,
    incident_queue,
    intake_alerts,
    list_incidents,
    timeline,
)
from command.intake import ImportProblem, ImportResult, IntakeError, ReportIn, import_work_orders, submit_report
from command.jurisdictions import JurisdictionError, full_name, in_scope, name_of, scope_filter
from command.jurisdictions import tree as jurisdiction_tree
from command.lifecycle import (
    acknowledge,
    arrive,
    classify,
    close,
    dispatch,
    escalate,
    escalate_mediation,
    evaluate,
    mark_false_alarm,
    reject,
    reopen,
    resolve,
    revisit,
    set_colour,
)
from command.media import clip_state, mark_clip_failed, resolve_media_path, snapshot_path, store_photo
from command.models import (
    AlarmMute,
    Assignment,
    AuditEvent,
    Category,
    Evaluation,
    Incident,
    IncidentSource,
    Jurisdiction,
    Responder,
    Revisit,
    RiskSubject,
    RuleSchedule,
    User,
)
from command.outbox import relay_after_commit, stage_events
from command.reports import LOCAL_TZ, PERIODS, Report, build_report, render_report, report_csv, write_report_files
from command.risk import create_risk_subject, due_revisits, get_risk_subject, record_risk_revisit, set_risk_colour
from command.epochs import EPOCHS_KEY, parse_epochs, push_epoch, stale_alerts
from command.schemas import RULE_KINDS, AlertIn
from command.handover import HandoverError
from command.search import SearchError, SearchPage, SearchQuery, search_incidents
from command.seed import seed_demo
from command.streams import (
    ALERTS_STREAM,
    CONSUMER_GROUP,
    EVENTS_STREAM,
    decode_event,
    durable_fence,
    publish_alert,
    publish_event,
)
from command.supervision import run_timers
from command.views import (
    IncidentDetail,
    IncidentPage,
    IncidentView,
    NameCache,
    Timeline,
    TimelineEntry,
    incident_detail,
    incident_payload,
    incident_view,
    timeline_entries,
)
from command.workflow import (
    CONFLICT_REASON,
    STATE_LABELS,
    STATES,
    TRANSITIONS,
    Actor,
    TransitionRefused,
    allowed_actions,
    conflict,
)

__all__ = [
    # alarm handling, evidence, dispatch labels and the one-action-one-effect conflict (used by web)
    "alarms", "AlarmError", "AlarmMute", "RuleSchedule", "ASSIGNMENT_LABELS", "responder_history", "Evidence",
    "EvidenceItem", "evidence_source_path", "incident_evidence", "timeline_entries", "CONFLICT_REASON", "conflict",
    "clip_state", "mark_clip_failed",
    "ALERTS_STREAM", "COLOURS", "COLOUR_HEX", "COLOUR_NAMES", "COLOUR_POLICY", "CONSUMER_GROUP", "EVENTS_STREAM",
    "MERGE_WINDOW", "OPERATOR_ROLES", "ROLES", "RULE_KINDS", "SEVERITIES", "SOURCES", "STATES", "STATE_LABELS",
    "TRANSITIONS", "AccountError", "Actor", "AlertIn", "Assignment", "AuditEvent", "Category", "Database",
    "Evaluation", "Incident", "IncidentFilter", "IncidentSource", "IntakeResult", "Jurisdiction", "JurisdictionError",
    "NotFound", "Recommendation", "Responder", "Revisit", "RiskSubject", "TransitionRefused", "User", "accounts",
    "acknowledge", "allowed_actions", "arrive", "classify", "close", "create_user", "decode_event", "dispatch",
    "escalate", "escalate_mediation", "evaluate", "get_incident", "get_user", "in_scope", "incident_payload",
    "intake_alerts", "list_incidents", "list_users", "mark_false_alarm", "open_database", "publish_alert",
    "durable_fence", "publish_event", "relay_after_commit", "stage_events", "recommend_responders", "reject", "reopen", "resolve", "resolve_media_path", "revisit",
    "run_timers", "seed_demo", "set_colour", "snapshot_path", "store_photo", "timeline", "update_responder_position",
    "ImportProblem", "ImportResult", "IntakeError", "ReportIn", "import_work_orders", "submit_report", "full_name",
    "name_of", "jurisdiction_tree", "list_responders", "PERIODS", "Report", "build_report", "render_report",
    "report_csv", "write_report_files", "create_risk_subject", "due_revisits", "get_risk_subject",
    "record_risk_revisit", "set_risk_colour", "set_active", "audit", "scope_filter", "LOCAL_TZ",
    "DEVICE_FAULT_GROUP", "DeviceFaultConsumer",
    "EPOCHS_KEY", "parse_epochs", "push_epoch", "stale_alerts",
    "IncidentDetail", "IncidentPage", "IncidentView", "Timeline", "TimelineEntry", "incident_detail", "incident_view", "incident_queue",
    "handover", "HandoverError", "NameCache", "fill_search_corpus", "SearchError", "SearchPage", "SearchQuery", "search_incidents",
]
