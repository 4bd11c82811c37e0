"""GB/T 28181 devices and their catalog channels (devices/gb28181/persist.py declares the same shapes)

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gb28181_devices",
        sa.Column("device_id", sa.String(length=20), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("manufacturer", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("model", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("transport", sa.String(length=8), nullable=False, server_default="udp"),
        sa.Column("host", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("port", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("charset", sa.String(length=16), nullable=False, server_default="GB2312"),
        sa.Column("online", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("registered_at", sa.Float(), nullable=False, server_default="0"),
        sa.Column("last_seen", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_table(
        "gb28181_channels",
        sa.Column("channel_id", sa.String(length=20), primary_key=True),
        sa.Column("device_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("civil_code", sa.String(length=20), nullable=False, server_default=""),
        sa.Column("parent_id", sa.String(length=20), nullable=False, server_default=""),
        sa.Column("manufacturer", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("model", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("address", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("status", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("ptz_type", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_gb28181_channels_device_id", "gb28181_channels", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_gb28181_channels_device_id", table_name="gb28181_channels")
    op.drop_table("gb28181_channels")
    op.drop_table("gb28181_devices")
