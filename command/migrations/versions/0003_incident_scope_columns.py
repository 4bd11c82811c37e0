"""township/village ancestor codes on incidents for scoped newest-first lists

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("township_code", sa.String(length=9), nullable=True))
        batch.add_column(sa.Column("village_code", sa.String(length=12), nullable=True))
    op.execute("UPDATE incidents SET township_code = substr(jurisdiction_code, 1, 9) WHERE length(jurisdiction_code) >= 9")
    op.execute("UPDATE incidents SET village_code = substr(jurisdiction_code, 1, 12) WHERE length(jurisdiction_code) >= 12")
    op.create_index("ix_incidents_township_id", "incidents", ["township_code", "id"])
    op.create_index("ix_incidents_village_id", "incidents", ["village_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_village_id", table_name="incidents")
    op.drop_index("ix_incidents_township_id", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("village_code")
        batch.drop_column("township_code")
