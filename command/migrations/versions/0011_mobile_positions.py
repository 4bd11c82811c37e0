"""Positions and tracks of mobile units (devices/mobile/store.py declares the same shape)

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mobile_positions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("utc_offset_s", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("alt_m", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("battery_pct", sa.Float(), nullable=True),
        sa.Column("link_quality", sa.Float(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("unit_id", "ts_us", name="uq_mobile_positions_unit_ts"),
    )
    op.create_index("ix_mobile_positions_ts_us", "mobile_positions", ["ts_us"])
    op.create_index("ix_mobile_positions_received_at", "mobile_positions", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_mobile_positions_received_at", table_name="mobile_positions")
    op.drop_index("ix_mobile_positions_ts_us", table_name="mobile_positions")
    op.drop_table("mobile_positions")
