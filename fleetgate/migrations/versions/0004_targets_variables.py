"""Fleet targets (with their history) and variables per fleet, service and device.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def _fleet_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["fleet_id"], ["fleets.id"], name=f"fk_{table}_fleet_id_fleets", ondelete="CASCADE"
    )


def _release_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["release_id"], ["releases.id"], name=f"fk_{table}_release_id_releases", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "fleet_targets",
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("set_at", TIMESTAMP, nullable=False),
        _fleet_fk("fleet_targets"),
        _release_fk("fleet_targets"),
        sa.PrimaryKeyConstraint("fleet_id", name="pk_fleet_targets"),
    )
    op.create_index("ix_fleet_targets_release_id", "fleet_targets", ["release_id"])
    op.create_table(
        "fleet_target_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("set_at", TIMESTAMP, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        _fleet_fk("fleet_target_log"),
        _release_fk("fleet_target_log"),
        sa.PrimaryKeyConstraint("id", name="pk_fleet_target_log"),
        sa.CheckConstraint(
            "reason IN ('success', 'pin', 'latest', 'rollback')", name="ck_fleet_target_log_reason"
        ),
    )
    op.create_index("ix_fleet_target_log_fleet_id", "fleet_target_log", ["fleet_id"])
    op.create_index("ix_fleet_target_log_release_id", "fleet_target_log", ["release_id"])
    _variables()


def _variables() -> None:
    op.create_table(
        "variables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(63), nullable=True),
        sa.Column("device_uuid", sa.String(62), nullable=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _fleet_fk("variables"),
        sa.PrimaryKeyConstraint("id", name="pk_variables"),
    )
    op.create_index("ix_variables_fleet_id", "variables", ["fleet_id"])
    op.create_index(
        "uq_variables_scope_key",
        "variables",
        ["fleet_id", sa.text("coalesce(service, '')"), sa.text("coalesce(device_uuid, '')"), "key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_variables_scope_key", table_name="variables")
    op.drop_index("ix_variables_fleet_id", table_name="variables")
    op.drop_table("variables")
    op.drop_index("ix_fleet_target_log_release_id", table_name="fleet_target_log")
    op.drop_index("ix_fleet_target_log_fleet_id", table_name="fleet_target_log")
    op.drop_table("fleet_target_log")
    op.drop_index("ix_fleet_targets_release_id", table_name="fleet_targets")
    op.drop_table("fleet_targets")
