"""One glossary: the desk's zh-CN.json says exactly the words command's reports, CSV and PDF use."""

from __future__ import annotations

import json

from command import COLOUR_NAMES, SOURCES, STATE_LABELS, STATES
from xueliang.settings import REPO_ROOT

STRINGS = json.loads((REPO_ROOT / "web" / "static" / "i18n" / "zh-CN.json").read_text(encoding="utf-8"))


def test_status_source_and_colour_names_are_the_same_everywhere():
    assert set(STATE_LABELS) == set(STATES)
    assert {s: STRINGS.get(f"status.{s}") for s in STATES} == STATE_LABELS
    assert {s: STRINGS.get(f"source.{s}") for s in SOURCES} == SOURCES
    assert {c: STRINGS.get(f"colour.{c}") for c in COLOUR_NAMES} == COLOUR_NAMES


def test_labels_are_distinct_so_a_filter_reads_unambiguously():
    for table in (STATE_LABELS, SOURCES, COLOUR_NAMES):
        assert len(set(table.values())) == len(table)
