"""Access tokens for the HTTP API: a user creates, lists and revokes their own; the operator anyone's."""

from __future__ import annotations

from fleetgate import tokens
from fleetgate.models import utcnow

from .actor import Actor
from .scope import Context, check_own, whose


def create_token(
    ctx: Context,
    actor: Actor,
    name: str | None = None,
    read_only: bool = False,
    days: int | None = None,
    user: str | None = None,
) -> tuple[tokens.Token, str]:
    """A new token and its secret (shown once). A read-only actor makes read-only tokens only."""
    check_own(actor, "token.create")
    with ctx.database.session() as session:
        return tokens.create_token(session, whose(actor, user), name, read_only or actor.read_only, days)


def list_tokens(ctx: Context, actor: Actor, user: str | None = None) -> list[tokens.Token]:
    """The user's tokens (never their secrets)."""
    check_own(actor, "token.list")
    with ctx.database.session(readonly=True) as session:
        return tokens.list_tokens(session, whose(actor, user))


def revoke_token(ctx: Context, actor: Actor, token_id: int, user: str | None = None) -> tokens.Token:
    """Revoke one of the user's tokens: the next request with it is refused."""
    check_own(actor, "token.revoke")
    with ctx.database.session() as session:
        return tokens.revoke_token(session, whose(actor, user), token_id)


def authenticate(ctx: Context, secret: str) -> Actor | None:
    """The user a presented access token stands for, or None (unknown, revoked, expired, not a token)."""
    with ctx.database.session(readonly=True) as session:
        bearer = tokens.authenticate(session, secret)
    if bearer is None:
        return None
    touch_now_and_then(ctx, bearer)
    return Actor(user=bearer.user, credential=f"token {bearer.token_id}", read_only=bearer.read_only)


def touch_now_and_then(ctx: Context, bearer) -> None:
    """Record that a token or session was used: a write only every few minutes per credential."""
    if bearer.last_used is None or utcnow() - bearer.last_used >= tokens.LAST_USED_STEP:
        with ctx.database.session() as session:
            tokens.touch(session, bearer.token_id)
