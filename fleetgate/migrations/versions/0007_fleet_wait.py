"""A fleet setting: every push waits for the devices, as `git push -o wait=devices` does.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not batch mode: batch mode rebuilds the table on SQLite and would drop its
    # AUTOINCREMENT, and fleet ids must never be reused (they name repositories on disk).
    op.add_column(
        "fleets", sa.Column("wait_for_devices", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("fleets") as table:
        table.drop_column("wait_for_devices")
