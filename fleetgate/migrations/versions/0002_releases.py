"""Releases and their per-service images.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
STATUSES = "status IN ('running', 'success', 'failed', 'cancelled', 'interrupted')"


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(32), nullable=False),
        sa.Column("commit", sa.String(40), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_user", sa.String(39), nullable=False),
        sa.Column("created_by_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("composition", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("builder", sa.String(255), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(128), nullable=False),
        # Removing a fleet removes its releases (and, below, their images).
        sa.ForeignKeyConstraint(
            ["fleet_id"], ["fleets.id"], name="fk_releases_fleet_id_fleets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
        sa.UniqueConstraint("fleet_id", "number", name="uq_releases_fleet_id_number"),
        sa.UniqueConstraint("hash", name="uq_releases_hash"),
        sa.CheckConstraint(STATUSES, name="ck_releases_status"),
    )
    op.create_index("ix_releases_status", "releases", ["status"])
    op.create_table(
        "release_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("build_seconds", sa.Float(), nullable=True),
        sa.Column("build_log", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name="fk_release_images_release_id_releases",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_release_images"),
        sa.UniqueConstraint("release_id", "service", name="uq_release_images_release_id_service"),
    )


def downgrade() -> None:
    op.drop_table("release_images")
    op.drop_index("ix_releases_status", table_name="releases")
    op.drop_table("releases")
