"""Load and validate ``cameras.yaml``.

The fast path parses with ``yaml_rs`` (Rust, YAML 1.2, ~20x faster than PyYAML's
CSafeLoader whose constructor runs in Python), in chunks of channels cut at the
``- `` items of ``cameras:``, each validated by one pydantic call (see
:func:`_fast_load`). Only when something is wrong does the careful path run: the
whole document is parsed, validated in one call whose errors carry the item index,
and PyYAML composes just the blocks of the channels with problems into nodes, which
carry line numbers. A healthy 30,000-channel file never pays for the node tree.
Without ``yaml_rs`` everything takes the careful path with ``yaml.CSafeLoader``
(same results, slower).
"""

from __future__ import annotations

import gc
import hashlib
import re
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from devices.registry.errors import Problem, RegistryError
from devices.registry.index import Registry
from devices.registry.schema import Camera, Loc, camera_problems

try:  # libyaml is ~10x faster than pure Python; fall back so a build without it still works
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

try:
    import yaml_rs
except ModuleNotFoundError:  # pragma: no cover - optional accelerator
    yaml_rs = None  # type: ignore[assignment]  # the optional-import idiom: every use checks for None first

_CAMERA_LIST = TypeAdapter(list[Camera])

TOP_LEVEL_KEYS = ("version", "cameras")
SUPPORTED_VERSIONS = (1,)

# (path inside the document, message, optional second path whose line is mentioned)
_RawProblem = tuple[Loc, str, Loc | None]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a registry is built.

    Loading creates millions of containers that all stay alive (dicts from the parser, models);
    each allocation burst triggers collections that traverse everything allocated so far, which
    cost as much CPU as parsing and validating together (measured: 6.4 s → 3.4 s CPU for 70,000
    channels). Nothing built here is cyclic garbage; the previous state is restored after.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            # What was built is long-lived: into the permanent generation with it, so that the next collections
            # do not traverse (and promote through every generation) millions of objects that cannot be garbage.
            # Freed registries still go by reference counting; only cyclic garbage made during the load stays.
            gc.freeze()
            gc.enable()


def load_registry(path: str | Path, *, previous: Registry | None = None) -> Registry:
    """Load, validate and index a registry file; raise :class:`RegistryError` listing every problem.

    ``previous`` (the registry being replaced) lets unchanged channels be reused as is.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryError([Problem(str(path), 0, "(file)", f"cannot read: {exc.strerror or exc}")]) from None
    return parse_registry(raw, source=path, previous=previous)


def parse_registry(raw: bytes | str, *, source: str | Path = "<string>", previous: Registry | None = None) -> Registry:
    """Validate registry text already in memory (``source`` names it in problems)."""
    with gc_paused():
        return _parse_registry(raw.encode() if isinstance(raw, str) else raw, str(source), previous)


def _parse_registry(data: bytes, name: str, previous: Registry | None) -> Registry:
    digest = hashlib.sha256(data).hexdigest()
    fast = _fast_load(data, previous)
    if fast is not None:
        cameras, item_cache = fast
        registry = Registry(cameras, source=Path(name), digest=digest)
        registry._item_cache = item_cache  # noqa: SLF001 - the loader owns this cache
        return registry
    document = _parse_yaml(data, name)
    cameras, problems, ids = _validate(document)
    if problems:
        items = document.get("cameras") if isinstance(document, dict) else None
        n_items = len(items) if isinstance(items, list) else -1
        raise RegistryError(_locate(data, name, problems, ids, n_items))
    return Registry(cameras, source=Path(name), digest=digest)


CHUNK_ITEMS = 2000


def _fast_load(data: bytes, previous: Registry | None = None) -> tuple[list[Camera], dict[bytes, Camera]] | None:
    """Parse and validate a block-style file in chunks of channels, or None to take the careful path.

    Peak memory is then the models plus one chunk of raw dicts, instead of the
    models plus the whole file as dicts (which alone is ~14x the file size). Any
    surprise (a parse or validation problem, an alias across chunks) returns None
    and the careful path reports it with lines.

    Each channel's text is hashed; on a reload, channels whose text is unchanged
    reuse the previous ``Camera`` object, so editing one channel of 30,000 only
    parses and validates that one.
    """
    if yaml_rs is None:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    layout = _block_offsets(text)
    if layout is None:
        return None
    (begin, end), starts = layout
    try:
        header = yaml_rs.loads(text[:begin] + text[end:], parse_datetime=False)
    except yaml_rs.YAMLDecodeError:
        return None
    if header is None:
        header = {}
    if not isinstance(header, dict) or set(header) - set(TOP_LEVEL_KEYS) or header.get("version", 1) not in SUPPORTED_VERSIONS:
        return None
    old_cache = previous._item_cache if previous is not None else {}
    bounds = list(zip(starts, starts[1:] + [end]))
    blake = hashlib.blake2b
    keys = [blake(text[a:b].encode(), digest_size=16).digest() for a, b in bounds]
    cameras: list[Camera | None] = [old_cache.get(k) for k in keys]
    pending = [i for i, cam in enumerate(cameras) if cam is None]
    context = {"defer_cross_checks": True}
    for first in range(0, len(pending), CHUNK_ITEMS):
        chunk = pending[first:first + CHUNK_ITEMS]
        body = "".join(t if t.endswith("\n") else t + "\n" for t in (text[bounds[i][0]:bounds[i][1]] for i in chunk))
        try:
            doc = yaml_rs.loads("cameras:\n" + body, parse_datetime=False)
            if not isinstance(doc, dict):
                return None
            batch = _CAMERA_LIST.validate_python(doc["cameras"], context=context)
        except (yaml_rs.YAMLDecodeError, ValidationError, TypeError, KeyError):
            return None
        del doc
        if len(batch) != len(chunk):
            return None
        for i, cam in zip(chunk, batch):
            if (cam.rules or cam.zones) and camera_problems(cam):
                return None
            cameras[i] = cam
    done: list[Camera] = cameras  # type: ignore[assignment]  # every slot filled above
    if len({c.id for c in done}) != len(done):
        return None  # duplicate ids: the careful path names both lines
    return done, dict(zip(keys, done))


def _parse_yaml(data: bytes, name: str) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RegistryError([Problem(name, line, "(encoding)", "the file is not UTF-8; save it as UTF-8")]) from None
    if yaml_rs is not None:
        try:
            return yaml_rs.loads(text, parse_datetime=False)
        except yaml_rs.YAMLDecodeError:
            pass  # re-parse below with PyYAML, whose errors carry a line number
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        # Never str(exc): it quotes the offending line, which may hold a secret.
        message = (exc.problem or "invalid YAML") + (f" ({exc.context})" if exc.context else "")
        raise RegistryError([Problem(name, line, "(yaml syntax)", message)]) from None
    except yaml.YAMLError as exc:
        raise RegistryError([Problem(name, 0, "(yaml syntax)", str(exc))]) from None
    duplicates = _duplicate_keys(root)
    if duplicates:
        raise RegistryError([Problem(name, line, field, msg) for line, field, msg in duplicates])
    if yaml_rs is not None:  # PyYAML accepts what yaml_rs refused: report yaml_rs's reason
        try:
            yaml_rs.loads(text, parse_datetime=False)
        except yaml_rs.YAMLDecodeError as exc:
            first = str(exc).splitlines()[0]
            at = re.search(r"line (\d+)", first)
            line = int(at.group(1)) if at else _first_custom_tag_line(root)
            raise RegistryError([Problem(name, line, "(yaml)", first)]) from None
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loaders only


_STANDARD_TAG = re.compile(r"^tag:yaml\.org,2002:(str|int|float|bool|null|map|seq|timestamp|binary|merge|omap|pairs|set)$")


def _first_custom_tag_line(node: yaml.Node | None) -> int:
    """Line of the first node with an application tag (``!!python/...``), which the registry never needs."""
    if node is None:
        return 0
    if not _STANDARD_TAG.match(node.tag):
        return node.start_mark.line + 1
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    for child in children:
        line = _first_custom_tag_line(child)
        if line:
            return line
    return 0


def _duplicate_keys(node: yaml.Node | None, path: str = "") -> list[tuple[int, str, str]]:
    """Keys given twice in one mapping (YAML would silently keep the last one)."""
    found: list[tuple[int, str, str]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            k = str(key.value)
            line = key.start_mark.line + 1
            field = f"{path}.{k}" if path else k
            if k in seen:
                found.append((line, field, f"key {k!r} given twice in the same mapping (first at line {seen[k]})"))
            seen.setdefault(k, line)
            found.extend(_duplicate_keys(value, field))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, f"{path}[{i}]"))
    return found


def _validate(document: Any) -> tuple[list[Camera], list[_RawProblem], dict[int, str]]:
    problems: list[_RawProblem] = []
    ids: dict[int, str] = {}  # index -> id, to name the camera in messages
    if document is None:
        return [], [((), "the file is empty: expected a mapping with a `cameras:` list", None)], ids
    if not isinstance(document, dict):
        return [], [((), f"expected a mapping with a `cameras:` list, got {type(document).__name__}", None)], ids
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            problems.append(((key,), f"unknown key {key!r} (allowed at top level: {', '.join(TOP_LEVEL_KEYS)})", None))
    version = document.get("version", 1)
    if version not in SUPPORTED_VERSIONS:
        problems.append((("version",), f"unsupported version {version!r} (this program reads version 1)", None))
    items = document.get("cameras")
    if items is None:
        problems.append(((), "missing `cameras:` list", None))
        return [], problems, ids
    if not isinstance(items, list):
        problems.append((("cameras",), f"`cameras` must be a list of channels, got {type(items).__name__}", None))
        return [], problems, ids

    # One pydantic call for the whole list: its errors carry the item index, so even
    # the failure path needs no per-channel validation loop.
    try:
        cameras = _CAMERA_LIST.validate_python(items, context={"defer_cross_checks": True})
    except ValidationError as exc:
        cameras = []
        for err in exc.errors(include_url=False):
            loc = ("cameras", *err["loc"])
            problems.append((loc, _message(err, loc), None))
    first_index: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        cid = item.get("id")
        if isinstance(cid, str):
            ids[i] = cid
            first = first_index.setdefault(cid, i)
            if first != i:
                problems.append((("cameras", i, "id"), f"duplicate camera id {cid!r}", ("cameras", first, "id")))
        if item.get("rules") or item.get("zones"):
            problems.extend((("cameras", i, *loc), msg, None) for loc, msg in camera_problems(item))
    return (cameras if not problems else []), problems, ids


def _message(err: ErrorDetails, loc: Loc) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[2:-1])
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"unknown key {loc[-1]!r}{hint}"
    if kind == "missing":
        return "required field is missing"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if kind == "string_pattern_mismatch" and loc[-1] == "id":
        msg = "ids may use letters, digits and _ . : - (at most 64, starting with a letter or digit)"
    inp = err.get("input")
    if kind not in ("model_type", "list_type", "dict_type", "value_error") and isinstance(inp, (str, int, float, bool)) and not _is_secret_field(loc):
        msg += f" (got {inp!r})"
    return msg


def _is_secret_field(loc: Loc) -> bool:
    return "password" in loc or "streams" in loc


def _allowed_keys(loc: Loc) -> list[str]:
    """Field names of the model found by following *loc* from :class:`Camera` (for 'unknown key' hints)."""
    model: Any = Camera
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = _inner_model(model.model_fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- line numbers

def _locate(data: bytes, name: str, problems: list[_RawProblem], ids: dict[int, str], n_items: int) -> list[Problem]:
    finder = _LineFinder(data.decode("utf-8-sig"), expected_items=n_items)
    out: list[Problem] = []
    for loc, message, related in problems:
        line = finder.line(loc)
        if related is not None:
            message += f" (first defined at line {finder.line(related)})"
        if len(loc) >= 2 and loc[0] == "cameras" and isinstance(loc[1], int) and loc[1] in ids and not (loc[2:] == ("id",) and related):
            message += f" [camera {ids[loc[1]]}]"
        out.append(Problem(name, line, _field(loc), message))
    out.sort(key=lambda p: p.line)
    return out


_TOP_CAMERAS = re.compile(r"^cameras\s*:\s*(#.*)?$")
_TOP_KEY = re.compile(r"^[^\s#-]")
_ITEM = re.compile(r"^(\s*)-(\s|$)")


_TOP_CAMERAS_M = re.compile(r"^cameras[ \t]*:[ \t]*(?:#.*)?$", re.MULTILINE)
_TOP_KEY_M = re.compile(r"^[^\s#-]", re.MULTILINE)
_FIRST_ITEM_M = re.compile(r"^([ \t]*)-(?=[ \t\r\n])", re.MULTILINE)


def _block_offsets(text: str) -> tuple[tuple[int, int], list[int]] | None:
    """Character offsets: (start, end) of the ``cameras:`` block body and the start of each item.

    The fast path's version of :func:`_block_layout`: regexes find the block and its item indent;
    the items and the next top-level key are found by searching for a newline (a literal first
    character), several times faster than a MULTILINE ``^`` scan over megabytes.
    """
    head = _TOP_CAMERAS_M.search(text)
    if head is None:
        return None
    begin = head.end()
    end = _next_top_key(text, begin)
    first = _FIRST_ITEM_M.search(text, begin, end)
    if first is None:
        return None
    marker = "\n" + first.group(1) + "-"
    starts = [first.start()]
    i = text.find(marker, first.start(), end)
    while i >= 0:
        nxt = text[i + len(marker):i + len(marker) + 1]
        if nxt in (" ", "\t", "\r", "\n", ""):
            starts.append(i + 1)
        i = text.find(marker, i + 1, end)
    return (head.start(), end), starts


_NEXT_TOP_KEY = re.compile(r"\n[^\s#-]")  # a literal first character: re scans for it at memchr speed


def _next_top_key(text: str, begin: int) -> int:
    """Offset of the first line after *begin* that starts a top-level key (not space, ``#`` or ``-``), else the end."""
    m = _NEXT_TOP_KEY.search(text, begin)
    return m.start() + 1 if m else len(text)


def _block_layout(lines: list[str]) -> tuple[tuple[int, int], list[tuple[int, int]]] | None:
    """For a block-style file: the (first, end) lines of the ``cameras:`` section and each item's (first, end) lines."""
    begin = next((n for n, t in enumerate(lines) if _TOP_CAMERAS.match(t)), None)
    if begin is None:
        return None
    indent: str | None = None
    starts: list[int] = []
    end = len(lines)
    for n in range(begin + 1, len(lines)):
        text = lines[n]
        if _TOP_KEY.match(text):
            end = n
            break
        m = _ITEM.match(text)
        if m is None:
            continue
        if indent is None:
            indent = m.group(1)
        if m.group(1) == indent:
            starts.append(n)
    return (begin, end), [(a, b) for a, b in zip(starts, starts[1:] + [end])]


class _LineFinder:
    """Maps a problem path to a line, composing only the channels that have problems.

    Composing a 30,000-channel file into nodes takes seconds; a channel's own block
    composes in microseconds. Block-style files (what people and generators write)
    are split at the ``- `` items of ``cameras:``; anything else falls back to
    composing the whole document.
    """

    def __init__(self, text: str, *, expected_items: int) -> None:
        self.text = text
        self.lines = text.splitlines()
        self._root: yaml.Node | None = None
        self._root_done = False
        self._items: dict[int, tuple[yaml.Node, int] | None] = {}
        layout = _block_layout(self.lines)
        self._starts = layout[1] if layout else None
        if self._starts is not None and len(self._starts) != expected_items:
            self._starts = None  # not the simple block layout: compose everything

    def _full_root(self) -> yaml.Node | None:
        if not self._root_done:
            self._root_done = True
            try:
                self._root = yaml.compose(self.text, Loader=_Loader)
            except yaml.YAMLError:  # pragma: no cover - it parsed a moment ago
                self._root = None
        return self._root

    def _item(self, index: int) -> tuple[yaml.Node, int] | None:
        if index not in self._items:
            self._items[index] = None
            if self._starts is not None and index < len(self._starts):
                a, b = self._starts[index]
                try:
                    node = yaml.compose("\n".join(self.lines[a:b]), Loader=_Loader)
                except yaml.YAMLError:
                    node = None
                if isinstance(node, yaml.SequenceNode) and len(node.value) == 1:
                    self._items[index] = (node.value[0], a)
        return self._items[index]

    def line(self, loc: Loc) -> int:
        if len(loc) >= 2 and loc[0] == "cameras" and isinstance(loc[1], int) and self._starts is not None:
            item = self._item(loc[1])
            if item is not None:
                node, offset = item
                return _line_of(node, loc[2:]) + offset
        return _line_of(self._full_root(), loc)


def _line_of(root: yaml.Node | None, loc: Loc) -> int:
    """1-based line of the deepest node on *loc* that exists in the document."""
    node = root
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _field(loc: Loc) -> str:
    if not loc:
        return "(document)"
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
