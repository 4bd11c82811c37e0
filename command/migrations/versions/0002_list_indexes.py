"""indexes for filtered incident lists (newest first)

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_incidents_colour_id": ["colour", "id"],
    "ix_incidents_source_id": ["source", "id"],
    "ix_incidents_overdue_id": ["overdue", "id"],
    "ix_incidents_open_id": ["is_open", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "incidents", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="incidents")
