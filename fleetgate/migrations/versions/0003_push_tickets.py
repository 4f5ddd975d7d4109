"""The per-fleet push line, shared by every gateway node.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["fleet_id"], ["fleets.id"], name="fk_push_tickets_fleet_id_fleets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_push_tickets"),
        sa.CheckConstraint("state IN ('waiting', 'holding', 'superseded')", name="ck_push_tickets_state"),
    )
    op.create_index("ix_push_tickets_fleet_id", "push_tickets", ["fleet_id"])


def downgrade() -> None:
    op.drop_index("ix_push_tickets_fleet_id", table_name="push_tickets")
    op.drop_table("push_tickets")
