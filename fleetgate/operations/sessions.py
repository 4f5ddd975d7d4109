"""Signing in to the web pages: a login link for the actor, a session from a link, whom a cookie names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fleetgate import sessions

from .actor import Actor
from .scope import Context, check_own, whose
from .tokens import touch_now_and_then

LOGIN_PATH = "/login/"  # where the web pages take a link's secret (fleetgate/web/session_pages.py)


@dataclass(frozen=True)
class LinkForUser:
    """A one-time sign-in link to print, whose it is and until when it works."""

    url: str
    user: str
    expires: datetime


def create_login_link(ctx: Context, actor: Actor, user: str | None = None) -> LinkForUser:
    """A link that signs `user` (the actor; the operator names one) in once, within five minutes."""
    check_own(actor, "token.create")  # a session is a token of another kind: the same rule makes both
    with ctx.database.session() as session:
        made = sessions.create_link(session, whose(actor, user))
    return LinkForUser(ctx.settings.http_url() + LOGIN_PATH + made.secret, made.user, made.expires)


def sign_in(ctx: Context, secret: str) -> sessions.OpenedSession:
    """Use a login link: a new session for its user, or SignInError (used, expired, unknown)."""
    with ctx.database.session() as session:
        return sessions.redeem(session, secret)


def authenticate(ctx: Context, secret: str) -> Actor | None:
    """The user a session cookie stands for, or None (unknown, revoked, expired, not a session)."""
    with ctx.database.session(readonly=True) as session:
        bearer = sessions.authenticate(session, secret)
    if bearer is None:
        return None
    touch_now_and_then(ctx, bearer)
    return Actor(user=bearer.user, credential=f"session {bearer.token_id}")


def sign_out(ctx: Context, secret: str) -> None:
    """End the session whose cookie holds `secret`: the cookie is refused from the next request on."""
    with ctx.database.session() as session:
        sessions.end(session, secret)
