"""incident action version (one action, one effect), alarm mutes and arming-schedule overrides

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "alarm_mutes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera_id", sa.String(length=128), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("jurisdiction_code", sa.String(length=15), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("suppressed", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_alarm_mutes_camera_rule", "alarm_mutes", ["camera_id", "rule_id", "until"])
    op.create_table(
        "rule_schedules",
        sa.Column("camera_id", sa.String(length=128), primary_key=True),
        sa.Column("rule_id", sa.String(length=128), primary_key=True),
        sa.Column("jurisdiction_code", sa.String(length=15), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_schedules")
    op.drop_index("ix_alarm_mutes_camera_rule", table_name="alarm_mutes")
    op.drop_table("alarm_mutes")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("version")
