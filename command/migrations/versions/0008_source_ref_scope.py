"""work-order refs are unique per township, not county-wide (incident_sources.scope_code)

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PERSON_SOURCES = "('hotline_12345', 'police_110', 'grid', 'citizen')"


def upgrade() -> None:
    with op.batch_alter_table("incident_sources") as batch:
        batch.add_column(sa.Column("scope_code", sa.String(length=15), nullable=False, server_default=""))
        batch.drop_constraint("uq_incident_sources_kind_ref", type_="unique")
        batch.create_unique_constraint("uq_incident_sources_kind_ref_scope", ["kind", "ref", "scope_code"])
    # Reports from people are keyed by the township of the incident they belong to.
    op.execute(
        "UPDATE incident_sources SET scope_code = (SELECT substr(incidents.jurisdiction_code, 1, 9) FROM incidents "
        f"WHERE incidents.id = incident_sources.incident_id) WHERE kind IN {PERSON_SOURCES}"
    )


def downgrade() -> None:
    with op.batch_alter_table("incident_sources") as batch:
        batch.drop_constraint("uq_incident_sources_kind_ref_scope", type_="unique")
        batch.create_unique_constraint("uq_incident_sources_kind_ref", ["kind", "ref"])
        batch.drop_column("scope_code")
