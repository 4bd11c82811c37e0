"""The channel schema of ``configs/cameras.yaml`` (pydantic, unknown keys rejected).

A channel is one video source the centre knows about: a fixed or PTZ camera, a
drone or a 4G image-transmission terminal. Secrets (stream and ONVIF passwords)
are never stored in the file: they are ``${ENV_VAR}`` references that are only
resolved when a reader connects (:meth:`Camera.stream_url`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

# --------------------------------------------------------------------------- secrets

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_REF_FULL = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_BAD_REF = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})[^}]*\}?")
MASK = "***"


class SecretError(LookupError):
    """A ``${ENV}`` reference could not be resolved (the variable is not set)."""


def resolve_env_refs(text: str, *, where: str, env: Mapping[str, str] | None = None, quote_values: bool = False) -> str:
    """Replace every ``${NAME}`` in *text* by the environment variable's value.

    *where* names the camera and field so the error tells the operator what to set.
    """
    environ = os.environ if env is None else env

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise SecretError(f"{where} needs environment variable {name}, which is not set; export {name}=... before connecting")
        value = environ[name]
        return quote(value, safe="") if quote_values else value

    return ENV_REF.sub(substitute, text)


def _check_env_syntax(value: str) -> str:
    bad = _BAD_REF.search(value)
    if bad:
        raise ValueError(f"malformed environment reference {bad.group(0)!r}: write ${{VAR_NAME}} (letters, digits, _)")
    return value


# --------------------------------------------------------------------------- URLs

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
ONVIF_SCHEMES = ("http", "https")


# Fast path: one regex decides for the overwhelmingly common well-formed URL; only
# suspicious ones go through urlsplit for a precise message (30,000 URLs per load).
_URL_OK = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^@/?#\s]*@)?"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>\d{1,5}))?(?:[/?#]\S*)?$"
)
_WS = re.compile(r"\s")


def _split_url(value: str, schemes: tuple[str, ...]) -> None:
    if "${" in value or "}" in value:
        _check_env_syntax(value)
        probe = ENV_REF.sub("x", value)
    else:
        probe = value
    fast = _URL_OK.match(probe)
    if fast and fast.group("scheme").lower() in schemes and (fast.group("port") is None or 0 < int(fast.group("port")) < 65536):
        return
    if _WS.search(probe):
        raise ValueError(f"URL {mask_url(value)!r} contains whitespace")
    try:
        parts = urlsplit(probe)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {mask_url(value)!r}: {exc}") from None
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"invalid URL {mask_url(value)!r}: scheme must be one of {', '.join(schemes)}")
    if not parts.hostname:
        raise ValueError(f"invalid URL {mask_url(value)!r}: no host")
    if port == 0:
        raise ValueError(f"invalid URL {mask_url(value)!r}: port 0")
    raise ValueError(f"invalid URL {mask_url(value)!r}: malformed host or path")


def _userinfo_password(url: str) -> str | None:
    """The raw password part of ``scheme://user:password@host`` (references kept), or None."""
    _, sep, rest = url.partition("://")
    if not sep:
        return None
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo, at, _ = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1]


_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^\s/?#@:]*):[^\s/?#]*@", re.IGNORECASE)


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (safe to log and show).

    Works on a bare URL or on any message that quotes URLs (an exception, a log line):
    ``rtsp://admin:s3cret@10.0.0.5/ch1`` → ``rtsp://admin:***@10.0.0.5/ch1``. The user name
    stays (operators need it to fix credentials); the last ``@`` before the path ends the userinfo,
    so a password with a raw ``@`` is masked whole.
    """
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


_STREAM_FAST = re.compile(
    r"^(?:rtsp|rtsps|http|https)://(?:(?P<user>[^:@/?#\s]*)(?::(?P<pw>[^@/?#\s]*))?@)?"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>\d{1,5}))?(?:[/?#]\S*)?$",
    re.IGNORECASE,
)


def _stream_url(value: str) -> str:
    # One regex for the common case; anything unusual takes the careful path below.
    fast = _STREAM_FAST.match(value)
    if fast and (fast.group("port") is None or 0 < int(fast.group("port")) < 65536):
        pw = fast.group("pw")
        if (not pw or _ENV_REF_FULL.match(pw)) and ("$" not in value or value.count("$") == len(ENV_REF.findall(value))):
            return value
    _split_url(value, STREAM_SCHEMES)
    password = _userinfo_password(value)
    if password is not None and password != "" and not _ENV_REF_FULL.match(password):
        raise ValueError(
            f"plain-text password in stream URL {mask_url(value)!r}: write it as an environment reference, "
            "e.g. rtsp://admin:${CAM01_PASSWORD}@host/..., and export the variable"
        )
    return value


def _onvif_url(value: str) -> str:
    _split_url(value, ONVIF_SCHEMES)
    if _userinfo_password(value):
        raise ValueError("put ONVIF credentials in onvif.username/onvif.password, not in the URL")
    return value


StreamUrl = Annotated[str, AfterValidator(_stream_url)]
OnvifUrl = Annotated[str, AfterValidator(_onvif_url)]


# --------------------------------------------------------------------------- small types

def _jurisdiction(value: Any) -> Any:
    # Unquoted YAML numbers arrive as int; codes never start with 0, so str() is lossless.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and not (value.isdigit() and len(value) in (6, 9, 12, 15)):
        raise ValueError(
            f"jurisdiction code {value!r} must be 6 (county), 9 (township), 12 (village) or 15 (grid) digits, e.g. 330381101"
        )
    return value


JurisdictionCode = Annotated[str, BeforeValidator(_jurisdiction)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


def _point(value: tuple[float, float]) -> tuple[float, float]:
    x, y = value
    if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(
            f"point [{x}, {y}] is outside the frame: coordinates are normalised to 0..1 (x / width, y / height)"
        )
    return value


NormPoint = Annotated[tuple[float, float], AfterValidator(_point)]

# The shipped detector is COCO-trained YOLOv8: a class name outside this list can never fire.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)
_COCO = frozenset(COCO_CLASSES)


def _class_name(value: str) -> str:
    if value not in _COCO:
        raise ValueError(f"unknown object class {value!r}: use a COCO class name of the detector (person, car, truck, bus, bicycle, motorcycle, ...)")
    return value


ClassName = Annotated[str, AfterValidator(_class_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- sections

class CameraKind(StrEnum):
    fixed = "fixed"
    ptz = "ptz"
    drone = "drone"
    terminal_4g = "4g_terminal"


MOBILE_KINDS = frozenset({CameraKind.drone, CameraKind.terminal_4g})


class AnalysisMode(StrEnum):
    continuous = "continuous"  # decoded at `fps`, every frame through the detector
    patrol = "patrol"          # keyframe patrol (轮巡): a frame now and then, round-robin
    off = "off"                # live view only


class RuleKind(StrEnum):
    zone_intrusion = "zone_intrusion"
    tripwire = "tripwire"
    loitering = "loitering"
    crowd = "crowd"
    fall = "fall"
    abandoned_object = "abandoned_object"
    illegal_parking = "illegal_parking"


class Position(_Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Streams(_Strict):
    main: StreamUrl
    sub: StreamUrl | None = None


class Onvif(_Strict):
    url: OnvifUrl
    username: Annotated[str, AfterValidator(_check_env_syntax)] = Field(min_length=1)
    password: str

    @field_validator("password")
    @classmethod
    def _password_is_reference(cls, value: str) -> str:
        if not _ENV_REF_FULL.match(value):
            raise ValueError(
                "plain-text password: ONVIF passwords must be an environment reference such as "
                "${CAM01_ONVIF_PASSWORD}; put the secret in the environment, not in the file"
            )
        return value


def _yaml_off(value: Any) -> Any:
    # YAML 1.1 reads an unquoted `off` as false; that is what the operator meant.
    return "off" if value is False else value


class Analysis(_Strict):
    mode: Annotated[AnalysisMode, BeforeValidator(_yaml_off)] = AnalysisMode.patrol
    fps: float = Field(default=1.0, gt=0, le=30)
    # ARCHITECTURE.md names it detector_classes; `classes` is accepted as a shorter spelling.
    detector_classes: list[ClassName] = Field(default_factory=list, validation_alias=AliasChoices("detector_classes", "classes"))

    @property
    def classes(self) -> list[str]:
        return list(self.detector_classes)


class Frame(_Strict):
    width: int = Field(gt=0, le=16384)
    height: int = Field(gt=0, le=16384)


# Video-quality faults a camera may be told to ignore (names of devices.health.Fault; a test keeps them equal).
VqdFaultName = Literal["signal_loss", "frozen", "occlusion", "too_dark", "overexposed", "blur", "colour_cast", "scene_changed"]


class VqdOverrides(_Strict):
    """Per-camera limits of the video-quality diagnosis (fields of devices.health.VqdThresholds)."""

    dark_mean: float | None = Field(default=None, ge=0, le=255)
    dark_fraction: float | None = Field(default=None, gt=0, le=1)
    bright_mean: float | None = Field(default=None, ge=0, le=255)
    clipped_fraction: float | None = Field(default=None, gt=0, le=1)
    blur_ratio: float | None = Field(default=None, gt=0, le=1)
    cast_shift: float | None = Field(default=None, gt=0)
    occluded_blocks: float | None = Field(default=None, gt=0, le=1)
    scene_ncc: float | None = Field(default=None, ge=-1, le=1)
    persist: int | None = Field(default=None, ge=1, le=100)


class Health(_Strict):
    """``health:`` of a camera: what its device-health monitoring should tolerate.

    E.g. a lane without street lights is dark every night: ``ignore: [too_dark]``;
    a camera behind glass that is never sharp: ``vqd: {blur_ratio: 0.2}``.
    """

    ignore: list[VqdFaultName] = Field(default_factory=list)
    vqd: VqdOverrides = Field(default_factory=VqdOverrides)
    offline_after_s: float | None = Field(None, gt=0, le=86400)


class Zone(_Strict):
    id: Identifier
    name: str | None = None
    polygon: list[NormPoint] = Field(min_length=3, max_length=256)

    @field_validator("polygon")
    @classmethod
    def _has_area(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        area = 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(value, value[1:] + value[:1])))
        if area < 1e-6:
            raise ValueError("polygon has no area (points are collinear or repeated)")
        return value

    def pixel_polygon(self, width: int, height: int) -> list[tuple[int, int]]:
        return [(round(x * width), round(y * height)) for x, y in self.polygon]


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class TimeWindow(_Strict):
    """A daily window in the centre's local time; ``start > end`` spans midnight (22:00-06:00)."""

    start: Annotated[str, Field(pattern=_HHMM)]
    end: Annotated[str, Field(pattern=_HHMM)]
    days: list[Weekday] = Field(default_factory=lambda: list(_DAYS))

    @field_validator("end")
    @classmethod
    def _not_empty(cls, end: str, info: ValidationInfo) -> str:
        if info.data.get("start") == end:
            raise ValueError("start and end are the same, so the window never arms (leave the schedule out to arm all day)")
        return end

    def contains(self, when: datetime) -> bool:
        t = when.time()
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        day = _DAYS[when.weekday()]
        if start <= end:
            return day in self.days and start <= t < end
        # Overnight window: the part after midnight belongs to the previous day's window.
        if t >= start:
            return day in self.days
        previous = _DAYS[(when.weekday() - 1) % 7]
        return t < end and previous in self.days


class Direction(StrEnum):
    any = "any"
    a_to_b = "a_to_b"  # crossing with point A of the line on the left, B on the right
    b_to_a = "b_to_a"


# --------------------------------------------------------------------------- rules

# One model per rule kind, told apart by ``kind`` (a discriminated union); each field's default
# is the analytics default for that kind, here and nowhere else (analytics reads the fields as they are).

PERSON: tuple[str, ...] = ("person",)
VEHICLES: tuple[str, ...] = ("car", "truck", "bus", "motorcycle")
BAGS: tuple[str, ...] = ("backpack", "handbag", "suitcase")

Seconds = Annotated[float, Field(gt=0, le=86400)]
Cooldown = Annotated[float, Field(ge=0, le=86400)]
GapSeconds = Annotated[float, Field(ge=0, le=3600)]
MoveShare = Annotated[float, Field(gt=0, le=10, description="still = moves less than this x box size")]
ShapeRatio = Annotated[float, Field(gt=0, le=10)]


class RuleBase(_Strict):
    """What every rule kind takes; ``kind`` is narrowed to one value by each subclass."""

    DEFAULT_CLASSES: ClassVar[tuple[str, ...]] = PERSON

    id: Identifier
    kind: RuleKind
    classes: list[ClassName] = Field(default_factory=list)  # empty = DEFAULT_CLASSES of the kind
    schedule: list[TimeWindow] | None = None
    cooldown_s: Cooldown = 30.0
    min_confidence: float = Field(default=0.35, gt=0, lt=1)
    enabled: bool = True

    @property
    def effective_classes(self) -> list[str]:
        return list(self.classes) or list(self.DEFAULT_CLASSES)

    def active_at(self, when: datetime) -> bool:
        return self.enabled and (not self.schedule or any(w.contains(when) for w in self.schedule))


class ZoneRuleBase(RuleBase):
    """A rule about one zone of the camera (``zone``: the id of one of its ``zones``)."""

    zone: str


class ZoneIntrusionRule(ZoneRuleBase):
    kind: Literal[RuleKind.zone_intrusion]
    min_frames: int = Field(default=1, ge=1, le=1000, description="frames in a row inside before it alerts")


class LoiteringRule(ZoneRuleBase):
    kind: Literal[RuleKind.loitering]
    dwell_s: Seconds  # no default: how long is loitering depends on the place
    gap_s: GapSeconds = 3.0  # detection gaps tolerated within one stay


class CrowdRule(ZoneRuleBase):
    kind: Literal[RuleKind.crowd]
    min_count: int = Field(ge=2, le=10000)
    dwell_s: Seconds = 10.0  # how long the crowd must last


class IllegalParkingRule(ZoneRuleBase):
    DEFAULT_CLASSES: ClassVar[tuple[str, ...]] = VEHICLES
    kind: Literal[RuleKind.illegal_parking]
    dwell_s: Seconds = 120.0
    max_move: MoveShare = 0.5
    gap_s: GapSeconds = 5.0


class AbandonedObjectRule(ZoneRuleBase):
    DEFAULT_CLASSES: ClassVar[tuple[str, ...]] = BAGS
    kind: Literal[RuleKind.abandoned_object]
    dwell_s: Seconds = 60.0
    cooldown_s: Cooldown = 600.0
    owner_radius: float = Field(default=1.5, gt=0, le=20, description="owner distance, x person height")
    max_move: MoveShare = 0.5
    gap_s: GapSeconds = 5.0


class TripwireRule(RuleBase):
    kind: Literal[RuleKind.tripwire]
    line: list[NormPoint] = Field(min_length=2, max_length=2)  # [A, B]
    direction: Direction = Direction.any
    hysteresis: float = Field(default=0.3, ge=0, le=1, description="dead band, share of box width")


class FallRule(RuleBase):
    kind: Literal[RuleKind.fall]
    zone: str | None = None  # optional: anywhere in the frame
    dwell_s: Seconds = 3.0
    upright_ratio: ShapeRatio = 1.6  # upright when h >= ratio x w
    lying_ratio: ShapeRatio = 1.2  # lying when w >= ratio x h


RULE_MODELS: dict[RuleKind, type[RuleBase]] = {
    RuleKind.zone_intrusion: ZoneIntrusionRule,
    RuleKind.tripwire: TripwireRule,
    RuleKind.loitering: LoiteringRule,
    RuleKind.crowd: CrowdRule,
    RuleKind.fall: FallRule,
    RuleKind.abandoned_object: AbandonedObjectRule,
    RuleKind.illegal_parking: IllegalParkingRule,
}

Rule = Annotated[
    ZoneIntrusionRule | TripwireRule | LoiteringRule | CrowdRule | FallRule | AbandonedObjectRule | IllegalParkingRule,
    Field(discriminator="kind"),
]
RULE_ADAPTER: TypeAdapter[list[Rule]] = TypeAdapter(list[Rule])

_RULE_KIND_VALUES = frozenset(k.value for k in RuleKind)
_NEEDS: dict[str, str] = {  # what the operator is told when a required field of a kind is missing
    "zone": "a {kind} rule needs a zone",
    "line": "a tripwire rule needs line: [[x1, y1], [x2, y2]] (normalised 0..1)",
    "min_count": "a crowd rule needs min_count (people in the zone)",
    "dwell_s": "a {kind} rule needs dwell_s (seconds in the zone)",
}


def _kinds_with(field: str) -> list[str]:
    return sorted(k.value for k, model in RULE_MODELS.items() if field in model.model_fields)


def _rule_error(err: ErrorDetails) -> InitErrorDetails:
    """One validation error of a rule list, said in the registry's terms: the kind tag pydantic puts in
    the path is dropped (``rules[0].line``, not ``rules[0].tripwire.line``), a missing required field
    says what the kind needs, a field of another kind says which kinds take it."""
    loc, kind_type = tuple(err["loc"]), err["type"]
    if kind_type in ("union_tag_invalid", "union_tag_not_found"):
        got = err["input"].get("kind") if isinstance(err["input"], dict) else None
        known = ", ".join(k.value for k in RuleKind)
        text = f"unknown rule kind {got!r} (known: {known})" if got is not None else f"a rule needs kind (one of {known})"
        return InitErrorDetails(type=PydanticCustomError("rule_kind", text), loc=(*loc, "kind"), input=err["input"])
    if len(loc) < 3 or loc[1] not in _RULE_KIND_VALUES:
        return InitErrorDetails(type=kind_type, loc=loc, input=err["input"], ctx=err.get("ctx", {}))
    kind, field, rest = str(loc[1]), loc[2], (loc[0], *loc[2:])
    if kind_type == "missing" and len(rest) == 2 and field in _NEEDS:
        text = _NEEDS[str(field)].format(kind=kind)
        return InitErrorDetails(type=PydanticCustomError("rule_needs", text), loc=rest, input=err["input"])
    if kind_type == "extra_forbidden" and len(rest) == 2:
        others = _kinds_with(str(field))
        if others:
            text = f"{field} does not apply to a {kind} rule (only {', '.join(others)})"
        else:
            allowed = ", ".join(RULE_MODELS[RuleKind(kind)].model_fields)
            text = f"unknown key {field!r} (allowed in a {kind} rule: {allowed})"
        return InitErrorDetails(type=PydanticCustomError("rule_field", text), loc=rest, input={})
    return InitErrorDetails(type=kind_type, loc=rest, input=err["input"], ctx=err.get("ctx", {}))


def rule_validation_errors(exc: ValidationError) -> list[InitErrorDetails]:
    return [_rule_error(e) for e in exc.errors(include_url=False)]


def parse_rules(raw: object) -> list[Rule]:
    """Rules from their ``cameras.yaml`` form (a list of mappings), with the registry's messages."""
    try:
        return RULE_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise ValidationError.from_exception_data("rules", rule_validation_errors(exc)) from None


# --------------------------------------------------------------------------- the channel

Loc = tuple[str | int, ...]


class Camera(_Strict):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    jurisdiction: JurisdictionCode
    position: Position
    kind: CameraKind = CameraKind.fixed
    streams: Streams
    onvif: Onvif | None = None
    analysis: Analysis = Field(default_factory=Analysis)
    frame: Frame | None = None
    zones: list[Zone] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    health: Health | None = None
    vendor: str | None = None
    model: str | None = None
    enabled: bool = True

    # Cross-field checks hang off `zones`/`rules` rather than the whole model so the
    # 90 % of channels without them pay nothing (validators do not run on defaults).
    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, zones: list[Zone], info: ValidationInfo) -> list[Zone]:
        return _cross_check({"zones": zones}, info, zones)

    @field_validator("rules", mode="wrap")
    @classmethod
    def _rules_consistent(cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> list[Rule]:
        try:
            rules: list[Rule] = handler(value)
        except ValidationError as exc:  # said in the registry's terms (see _rule_error)
            raise ValidationError.from_exception_data(exc.title, rule_validation_errors(exc)) from None
        view = {"zones": info.data.get("zones", []), "rules": rules, "analysis": info.data.get("analysis")}
        return _cross_check(view, info, rules)

    # -- secrets ---------------------------------------------------------------------------
    def stream_url(self, which: Literal["main", "sub"] = "sub", *, resolve_secrets: bool = False,
                   env: Mapping[str, str] | None = None) -> str:
        """The stream URL (``sub`` falls back to ``main``); ``${ENV}`` resolved only when asked."""
        if which not in ("main", "sub"):
            raise ValueError(f"stream must be 'main' or 'sub', not {which!r}")
        url = self.streams.sub if which == "sub" and self.streams.sub else self.streams.main
        if not resolve_secrets:
            return url
        return _resolve_url(url, where=f"camera {self.id!r} streams.{which}", env=env)

    def onvif_credentials(self, *, env: Mapping[str, str] | None = None) -> tuple[str, str]:
        """(username, password) for ONVIF with references resolved; call only when connecting."""
        if self.onvif is None:
            raise ValueError(f"camera {self.id!r} has no onvif section")
        where = f"camera {self.id!r} onvif"
        return (resolve_env_refs(self.onvif.username, where=f"{where}.username", env=env),
                resolve_env_refs(self.onvif.password, where=f"{where}.password", env=env))

    def secret_refs(self) -> set[str]:
        """Names of the environment variables this channel needs to connect."""
        texts = [self.streams.main, self.streams.sub or ""]
        if self.onvif:
            texts += [self.onvif.username, self.onvif.password]
        return {m.group(1) for t in texts for m in ENV_REF.finditer(t)}

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready dict for APIs and logs: passwords (even references) masked."""
        data = self.model_dump(mode="json")
        data["streams"] = {k: (mask_url(v) if v else v) for k, v in data["streams"].items()}
        if data.get("onvif"):
            data["onvif"]["password"] = MASK
        return data

    # -- convenience -----------------------------------------------------------------------
    @property
    def is_mobile(self) -> bool:
        return self.kind in MOBILE_KINDS

    def zone(self, zone_id: str) -> Zone:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(f"camera {self.id!r} has no zone {zone_id!r}")

    def effective_classes(self) -> list[str]:
        """Classes the detector must report: analysis.detector_classes, else the rules' classes."""
        if self.analysis.detector_classes:
            return list(self.analysis.detector_classes)
        seen: dict[str, None] = {}
        for rule in self.rules:
            for c in rule.effective_classes:
                seen[c] = None
        return list(seen)


def _resolve_url(url: str, *, where: str, env: Mapping[str, str] | None) -> str:
    scheme, sep, rest = url.partition("://")
    head = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo, at, _ = head.rpartition("@")
    if not at:
        return resolve_env_refs(url, where=where, env=env)
    # Secrets inside user:password must be percent-encoded or '@', ':' or '/' break the URL.
    resolved_userinfo = resolve_env_refs(userinfo, where=where, env=env, quote_values=True)
    tail = rest[len(userinfo):]
    return f"{scheme}{sep}{resolved_userinfo}{resolve_env_refs(tail, where=where, env=env)}"


def _cross_check(view: dict[str, Any], info: ValidationInfo, value: Any) -> Any:
    # The loader runs camera_problems itself to report each problem at its own line.
    if info.context and info.context.get("defer_cross_checks"):
        return value
    problems = camera_problems(view)
    if problems:
        raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
    return value


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _list(obj: Any, key: str) -> list[Any]:
    value = _get(obj, key)
    return value if isinstance(value, list) else []


def camera_problems(camera: Camera | Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Cross-field checks of one channel, each with the path (relative to the camera) it concerns.

    Works on a validated :class:`Camera` and, best effort, on the raw mapping of a
    channel that failed validation, so one run reports every problem of a file.
    """
    if isinstance(camera, Camera) and not camera.rules and not camera.zones:
        return []  # nothing to cross-check: most patrol channels
    problems: list[tuple[Loc, str]] = []
    zone_ids: dict[str, int] = {}
    for i, zone in enumerate(_list(camera, "zones")):
        zid = _get(zone, "id")
        if not isinstance(zid, str):
            continue
        if zid in zone_ids:
            problems.append((("zones", i, "id"), f"duplicate zone id {zid!r} (also zones[{zone_ids[zid]}])"))
        zone_ids.setdefault(zid, i)
    rule_ids: dict[str, int] = {}
    for i, rule in enumerate(_list(camera, "rules")):
        if not isinstance(rule, (dict, RuleBase)):
            continue
        rid, zone = _get(rule, "id"), _get(rule, "zone")
        if isinstance(rid, str):
            if rid in rule_ids:
                problems.append((("rules", i, "id"), f"duplicate rule id {rid!r} (also rules[{rule_ids[rid]}])"))
            rule_ids.setdefault(rid, i)
        if isinstance(zone, str) and zone not in zone_ids:
            known = ", ".join(zone_ids) or "none defined"
            problems.append((("rules", i, "zone"), f"unknown zone {zone!r} (zones of this camera: {known})"))
    analysis = _get(camera, "analysis")
    mode = _get(analysis, "mode") if analysis is not None else None
    if _list(camera, "rules") and mode in ("off", False):
        problems.append((("analysis", "mode"), "analysis is off but the camera has rules: set mode to continuous or patrol, or remove the rules"))
    return problems
