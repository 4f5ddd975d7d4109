"""SSH keys: a user adds, lists and removes their own; the operator anyone's."""

from __future__ import annotations

from fleetgate import keys

from .actor import Actor
from .permissions import AccessDenied
from .scope import Context, check_own, whose


def list_keys(ctx: Context, actor: Actor, user: str | None = None) -> list[keys.StoredKey]:
    """The user's registered keys."""
    check_own(actor, "key.list")
    with ctx.database.session(readonly=True) as session:
        return keys.list_keys(session, whose(actor, user))


def add_keys(
    ctx: Context, actor: Actor, text: str, title: str | None = None, user: str | None = None
) -> list[keys.PublicKey]:
    """Register the OpenSSH public key line(s) in `text`; they push and log in from now on."""
    check_own(actor, "key.add")
    with ctx.database.session() as session:
        return keys.add_keys(session, whose(actor, user), text, title)


def remove_key(ctx: Context, actor: Actor, fingerprint: str, user: str | None = None) -> str:
    """Revoke a key; connections and pushes authenticated by it stop. Returns the user."""
    check_own(actor, "key.remove")
    owner = whose(actor, user)
    own = [] if actor.is_operator else list_keys(ctx, actor)
    # The last key is how this user reaches the gateway at all; only the operator can give a new one.
    if len(own) == 1 and own[0].fingerprint == keys.normalise_fingerprint(fingerprint):
        raise AccessDenied("that is your only key: add another first (keys add), then remove this one")
    with ctx.database.session() as session:
        keys.remove_key(session, owner, fingerprint)
    return owner
