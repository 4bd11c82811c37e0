"""county ancestor code on incidents (county-wide lists use the (filter, id) indexes)

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("county_code", sa.String(length=6), nullable=True))
    op.execute("UPDATE incidents SET county_code = substr(jurisdiction_code, 1, 6)")
    op.create_index("ix_incidents_county_id", "incidents", ["county_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_county_id", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("county_code")
