"""The desk's search (command.search) on SQLite and PostgreSQL over a 1,500-incident corpus.

Expected answers are computed in Python from every stored row, not by the search code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from command import Incident, IncidentSource, SearchError, SearchQuery, fill_search_corpus, search_incidents

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
ROWS = 1500
FAR = datetime(9999, 1, 1, tzinfo=UTC)
RANK = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def corpus(request, tmp_path_factory):
    """One seeded database per engine for the whole module (the search only reads)."""
    import shutil

    from command import open_database, seed_demo
    from tests.command.conftest import _fast_hash, _reset

    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("search") / "search.db"
        shutil.copyfile(request.getfixturevalue("_seeded_sqlite_template"), path)
        database = open_database(f"sqlite:///{path}")
    else:
        database = open_database(request.getfixturevalue("postgres_url"))
        _reset(database)
        database.upgrade()
        with database.session() as session:
            seed_demo(session, password="demo-pass-123", password_hasher=_fast_hash)
    needles = fill_search_corpus(database, ROWS, now=NOW)
    with database.session() as session:
        rows = list(session.scalars(select(Incident)))
        refs = {src.incident_id: src.ref for src in session.scalars(select(IncidentSource))}
        session.expunge_all()
    yield database, needles, rows, refs
    database.dispose()


def _all_pages(database, query: SearchQuery) -> list[int]:
    ids: list[int] = []
    cursor = None
    for _ in range(100):
        with database.session() as session:
            page = search_incidents(session, SearchQuery(**{**query.__dict__, "cursor": cursor}))
            ids.extend(i.id for i in page.items)
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor
    raise AssertionError("paging did not end")


def _search(database, **kw):
    with database.session() as session:
        page = search_incidents(session, SearchQuery(scope=kw.pop("scope", "330381"), **kw), with_total=True)
        return page, [i.id for i in page.items]


@pytest.mark.parametrize("key", ["caller", "phone", "work_order", "address"])
def test_planted_case_found_by_text(corpus, key):
    database, needles, _rows, _refs = corpus
    page, ids = _search(database, text=needles[key])
    assert ids == [needles["incident_id"]]
    assert page.total == 1


def test_phone_fragment_number_and_id(corpus):
    database, needles, rows, _refs = corpus
    _page, ids = _search(database, text=needles["phone"][-7:])
    assert needles["incident_id"] in ids
    _page, ids = _search(database, text=f"#{needles['incident_id']}")
    assert needles["incident_id"] in ids


def test_words_all_must_match_and_absent_word_finds_nothing(corpus):
    database, _needles, rows, _refs = corpus

    def text_of(r: Incident) -> str:
        return " ".join(x or "" for x in (r.title, r.description, r.address, r.reporter_name, r.camera_name))

    expected = sorted((r.id for r in rows if "噪音" in text_of(r) and "人民路" in text_of(r)), reverse=True)
    assert expected, "the corpus has noise complaints on 人民路"
    page, _ = _search(database, text="噪音  人民路", limit=200)
    assert page.total == len(expected)
    assert _all_pages(database, SearchQuery(scope="330381", text="噪音 人民路", limit=40)) == expected
    page, ids = _search(database, text="不存在的词语")
    assert (ids, page.total, page.next_cursor) == ([], 0, None)


def test_filters_combined(corpus):
    database, _needles, rows, _refs = corpus
    township = "330381103"
    since, until = NOW - timedelta(days=30), NOW - timedelta(days=5)
    expected = sorted((r.id for r in rows
                       if r.township_code == township and r.status in ("classified", "dispatched")
                       and r.source in ("hotline_12345", "grid") and r.colour in ("yellow", "red")
                       and since <= r.created_at < until), reverse=True)
    query = SearchQuery(scope="330381", jurisdiction=township, status=("classified", "dispatched"),
                        source=("hotline_12345", "grid"), colour=("yellow", "red"), since=since, until=until, limit=7)
    assert expected
    assert _all_pages(database, query) == expected
    category = sorted((r.id for r in rows if r.category_code == "noise" and r.is_open and r.overdue), reverse=True)
    page, ids = _search(database, category=("noise",), open_only=True, overdue_only=True, limit=200)
    assert ids == category and page.total == len(category)


@pytest.mark.parametrize("sort", ["newest", "oldest", "deadline", "urgency"])
def test_every_sort_pages_past_200_without_gaps_or_repeats(corpus, sort):
    database, _needles, rows, _refs = corpus
    open_rows = [r for r in rows if r.is_open]

    def key(r: Incident):
        deadline = r.resolve_deadline or FAR
        return {"newest": (-r.id,), "oldest": (r.id,), "deadline": (deadline, r.id),
                "urgency": (RANK[r.colour], deadline, r.id)}[sort]

    expected = [r.id for r in sorted(open_rows, key=key)]
    assert len(expected) > 400
    got = _all_pages(database, SearchQuery(scope="330381", open_only=True, sort=sort, limit=50))
    assert got == expected


def test_scope_is_the_callers_subtree(corpus):
    database, needles, rows, _refs = corpus
    other = next(r for r in rows if r.township_code != "330381101")
    _page, ids = _search(database, scope="330381101", text=f"#{other.id}")
    assert other.id not in ids
    _page, ids = _search(database, scope="330381101", limit=200)
    assert ids and all(r.township_code == "330381101" for r in rows if r.id in set(ids))
    with pytest.raises(SearchError) as err:
        _search(database, scope="330381101", jurisdiction="330381102")
    assert err.value.code == "search.out_of_scope" and "管辖范围" in err.value.message


@pytest.mark.parametrize("bad, code", [
    ({"status": ("nope",)}, "search.bad_status"),
    ({"colour": ("pink",)}, "search.bad_colour"),
    ({"cursor": "not-a-cursor"}, "search.bad_cursor"),
    ({"text": "a b c d e f"}, "search.too_many_terms"),
    ({"since": NOW, "until": NOW - timedelta(days=1)}, "search.bad_range"),
])
def test_bad_requests_get_a_stable_code_and_a_chinese_message(corpus, bad, code):
    database, *_ = corpus
    with pytest.raises(SearchError) as err:
        _search(database, **bad)
    assert err.value.code == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err.value.message)


def test_a_cursor_of_another_sort_is_refused(corpus):
    database, *_ = corpus
    page, _ = _search(database, sort="newest", limit=10)
    with pytest.raises(SearchError):
        _search(database, sort="urgency", cursor=page.next_cursor)


def test_total_is_exact_below_the_cap_and_capped_above(corpus):
    from command.search import COUNT_CAP

    database, _needles, rows, _refs = corpus
    assert len(rows) > COUNT_CAP
    page, _ = _search(database, limit=10)
    assert (page.total, page.total_capped) == (COUNT_CAP, True)
    hotline = sum(1 for r in rows if r.source == "hotline_12345")
    assert hotline < COUNT_CAP
    page, _ = _search(database, source=("hotline_12345",), limit=10)
    assert (page.total, page.total_capped) == (hotline, False)
