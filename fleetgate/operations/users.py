"""Users: the operator adds, lists and removes them (each then manages their own keys and tokens)."""

from __future__ import annotations

from fleetgate import users

from .actor import Actor
from .permissions import OPERATOR, STRANGER, check_operator
from .scope import Context


def _operator_only(actor: Actor, operation: str) -> None:
    check_operator(operation, OPERATOR if actor.is_operator else STRANGER)


def add_user(ctx: Context, actor: Actor, name: str) -> users.User:
    """A new user, who can log in once a key is added for them."""
    _operator_only(actor, "user.add")
    with ctx.database.session() as session:
        return users.add_user(session, name)


def list_users(ctx: Context, actor: Actor) -> list[users.User]:
    """Every user."""
    _operator_only(actor, "user.list")
    with ctx.database.session(readonly=True) as session:
        return users.list_users(session)


def remove_user(ctx: Context, actor: Actor, name: str) -> None:
    """Remove a user with their keys, tokens and memberships (one who owns fleets is refused)."""
    _operator_only(actor, "user.remove")
    with ctx.database.session() as session:
        users.remove_user(session, name)
