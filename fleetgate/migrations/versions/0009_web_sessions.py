"""Web sign-in: one-time login links, and browser sessions kept beside the access tokens.

A session is a row of `access_tokens` of kind `session`: listed and revoked with the tokens, never accepted
as a bearer token (nor a token as a session cookie).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("access_tokens") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="token"))
    op.create_table(
        "login_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("link_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("expires", TIMESTAMP, nullable=False),
        sa.Column("used", TIMESTAMP, nullable=True),
    )
    op.create_index("ix_login_links_user_id", "login_links", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_login_links_user_id", "login_links")
    op.drop_table("login_links")
    with op.batch_alter_table("access_tokens") as batch:
        batch.drop_column("kind")
