"""duty roster (duty_shifts) and 交接班 (handovers, handover_items)

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("centre_code", sa.String(length=15), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_duty_shifts_centre_start", "duty_shifts", ["centre_code", "starts_at"])
    op.create_index("ix_duty_shifts_username", "duty_shifts", ["username"])
    op.create_table(
        "handovers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("centre_code", sa.String(length=15), nullable=False),
        sa.Column("from_user", sa.String(length=64), nullable=False),
        sa.Column("to_user", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.Column("overdue_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=False),
    )
    op.create_index("ix_handovers_centre_id", "handovers", ["centre_code", "id"])
    op.create_index("ix_handovers_to_user", "handovers", ["to_user"])
    op.create_table(
        "handover_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("handover_id", sa.Integer(), sa.ForeignKey("handovers.id"), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("colour", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("resolve_deadline", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_handover_items_handover_id", "handover_items", ["handover_id"])


def downgrade() -> None:
    op.drop_index("ix_handover_items_handover_id", table_name="handover_items")
    op.drop_table("handover_items")
    op.drop_index("ix_handovers_to_user", table_name="handovers")
    op.drop_index("ix_handovers_centre_id", table_name="handovers")
    op.drop_table("handovers")
    op.drop_index("ix_duty_shifts_username", table_name="duty_shifts")
    op.drop_index("ix_duty_shifts_centre_start", table_name="duty_shifts")
    op.drop_table("duty_shifts")
