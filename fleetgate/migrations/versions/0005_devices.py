"""Devices, provisioning keys, and the per-fleet change counter that wakes devices' long-polls.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def _fleet_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["fleet_id"], ["fleets.id"], name=f"fk_{table}_fleet_id_fleets", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(62), nullable=False),
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("device_type", sa.String(64), nullable=False),
        sa.Column("api_key_hash", sa.String(64), nullable=False),
        sa.Column("pinned_release_id", sa.Integer(), nullable=True),
        sa.Column("lock_override", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("release_hash", sa.String(32), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("last_seen", TIMESTAMP, nullable=True),
        sa.Column("registered_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        _fleet_fk("devices"),
        sa.ForeignKeyConstraint(
            ["pinned_release_id"],
            ["releases.id"],
            name="fk_devices_pinned_release_id_releases",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("uuid", name="uq_devices_uuid"),
        sa.UniqueConstraint("api_key_hash", name="uq_devices_api_key_hash"),
    )
    op.create_index("ix_devices_fleet_id", "devices", ["fleet_id"])
    op.create_index("ix_devices_pinned_release_id", "devices", ["pinned_release_id"])
    op.create_table(
        "provisioning_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _fleet_fk("provisioning_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_provisioning_keys"),
        sa.UniqueConstraint("key_hash", name="uq_provisioning_keys_key_hash"),
    )
    op.create_index("ix_provisioning_keys_fleet_id", "provisioning_keys", ["fleet_id"])
    # One row per fleet whose devices' targets changed; `serial` rises with every change so that a
    # serve process on SQLite (no NOTIFY) can see another process's changes with one indexed query.
    op.create_table(
        "fleet_changes",
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", TIMESTAMP, nullable=False),
        _fleet_fk("fleet_changes"),
        sa.PrimaryKeyConstraint("fleet_id", name="pk_fleet_changes"),
    )
    op.create_index("ix_fleet_changes_serial", "fleet_changes", ["serial"])


def downgrade() -> None:
    op.drop_index("ix_fleet_changes_serial", table_name="fleet_changes")
    op.drop_table("fleet_changes")
    op.drop_index("ix_provisioning_keys_fleet_id", table_name="provisioning_keys")
    op.drop_table("provisioning_keys")
    op.drop_index("ix_devices_pinned_release_id", table_name="devices")
    op.drop_index("ix_devices_fleet_id", table_name="devices")
    op.drop_table("devices")
