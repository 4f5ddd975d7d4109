"""Servers a fleet rolls out to over SSH, and each fleet's proxy host name and TLS files (issue 5).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def _fleet_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["fleet_id"], ["fleets.id"], name=f"fk_{table}_fleet_id_fleets", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(63), nullable=True),
        sa.Column("key_path", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _fleet_fk("servers"),
        sa.PrimaryKeyConstraint("id", name="pk_servers"),
        sa.UniqueConstraint("fleet_id", "host", "port", name="uq_servers_fleet_id_host_port"),
    )
    op.create_index("ix_servers_fleet_id", "servers", ["fleet_id"])
    op.create_table(
        "fleet_proxies",
        sa.Column("fleet_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(253), nullable=True),
        sa.Column("tls_cert", sa.Text(), nullable=True),
        sa.Column("tls_key", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        _fleet_fk("fleet_proxies"),
        sa.PrimaryKeyConstraint("fleet_id", name="pk_fleet_proxies"),
    )


def downgrade() -> None:
    op.drop_table("fleet_proxies")
    op.drop_index("ix_servers_fleet_id", table_name="servers")
    op.drop_table("servers")
