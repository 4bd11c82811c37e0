"""index for the desk's search by work-order number

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A 12345 work-order / 110 transfer number typed into the search box is an equality on ref
    # (the unique (kind, ref) index cannot serve it: kind is its first column).
    op.create_index("ix_incident_sources_ref", "incident_sources", ["ref"])


def downgrade() -> None:
    op.drop_index("ix_incident_sources_ref", table_name="incident_sources")
