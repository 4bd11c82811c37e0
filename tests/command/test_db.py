import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from command import accounts
from command.accounts import AccountError
from command.db import open_database
from command.models import Base, Jurisdiction, Responder, User
from command.seed import seed_demo
from devices.gb28181.persist import metadata as gb28181_metadata
from devices.mobile.store import metadata as mobile_metadata


def test_migrations_match_models(db):
    with db.engine.connect() as connection:
        # one schema, declared in two packages: command's models and devices' GB/T 28181 and mobile-unit
        # tables (devices must not import command, so it declares its own with SQLAlchemy Core)
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                [Base.metadata, gb28181_metadata, mobile_metadata])
    assert diff == [], f"models and migrations differ; add a migration: {diff}"
    from alembic.script import ScriptDirectory

    from command.db import alembic_config

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"the migration chain must have one head, has {heads}"
    assert db.current_revision() == heads[0]


def test_sqlite_uses_wal(tmp_path):
    database = open_database(f"sqlite:///{tmp_path}/sub/x.db", upgrade=True)
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    database.dispose()


def test_seed_demo_shape_and_idempotence(db):
    with db.session() as s:
        summary = seed_demo(s, password="pw-123456", password_hasher=lambda p: "h$" + p)
    assert (summary.townships, summary.villages, summary.grids) == (13, 138, 414)
    assert summary.responders > 150 and summary.categories >= 19
    assert {"admin", "county", "t101", "t113", "r1", "r2"} <= set(summary.created_users)
    with db.session() as s:
        again = seed_demo(s, password="pw-123456", password_hasher=lambda p: "h$" + p)
        assert again.created_users == [] and again.villages == 138
        # the camera townships and their villages exist, codes are hierarchical
        for code in ("330381101", "330381104", "330381101201", "330381104201"):
            row = s.get(Jurisdiction, code)
            assert row is not None and row.parent_code == code[: len(code) - 3]
        assert s.get(Jurisdiction, "330381101201001").level == "grid"
        admin = accounts.get_user(s, "admin")
        assert admin.role == "admin" and admin.jurisdiction_code == "330381" and admin.password_hash == "h$pw-123456"
        t101 = accounts.get_user(s, "t101")
        assert t101.role == "township_operator" and t101.jurisdiction_code == "330381101"
        police = accounts.get_user(s, "r1")
        assert s.get(Responder, police.responder_id).kind == "police"


def test_seed_without_password_creates_no_users(db, monkeypatch):
    monkeypatch.delenv("XUELIANG_DEMO_PASSWORD", raising=False)
    with db.session() as s:
        summary = seed_demo(s)
    assert summary.users == 0 and summary.villages == 138


def test_create_user_validation(db):
    with db.session() as s:
        accounts.create_user(s, "op1", "hash", "county_operator", "330381")
        with pytest.raises(AccountError, match="already taken"):
            accounts.create_user(s, "op1", "hash", "county_operator", "330381")
        with pytest.raises(AccountError, match="role"):
            accounts.create_user(s, "op2", "hash", "boss", "330381")
        with pytest.raises(ValueError, match="6 \\(county\\)"):
            accounts.create_user(s, "op3", "hash", "viewer", "3303")
        with pytest.raises(AccountError, match="responder_id"):
            accounts.create_user(s, "op4", "hash", "responder", "330381")
    with db.session() as s:
        assert [u.username for u in s.scalars(select(User))] == ["op1"]


def test_cli_upgrade_and_seed(tmp_path):
    url = f"sqlite:///{tmp_path}/cli.db"
    env = {"XUELIANG_DEMO_PASSWORD": "demo-pw-42", "PATH": "/usr/bin:/bin"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "xueliang.cli", *a], capture_output=True, text=True, env=env, timeout=120)  # noqa: E731
    out = run("db", "upgrade", "--database-url", url)
    assert out.returncode == 0, out.stderr
    from alembic.script import ScriptDirectory

    from command.db import alembic_config

    assert f"revision {ScriptDirectory.from_config(alembic_config()).get_current_head()}" in out.stdout
    out = run("db", "seed-demo", "--database-url", url)
    assert out.returncode == 0, out.stderr
    assert "138 villages" in out.stdout and "admin" in out.stdout
    database = open_database(url)
    with database.session() as s:
        from argon2 import PasswordHasher

        assert PasswordHasher().verify(accounts.get_user(s, "t101").password_hash, "demo-pw-42")
    database.dispose()
