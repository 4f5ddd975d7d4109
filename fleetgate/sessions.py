"""Signing in to the web pages without a password: one-time login links that open browser sessions.

`ssh git@HOST login` makes a link for the key's user (the SSH key is the proof of who they are). The link
holds a secret that is stored hashed, like an access token's, lives LINK_LIFETIME and opens one session:
redeeming it marks it used in the same statement that checks it was not (two tabs racing for one link get
one session between them). A session is an access-token row of kind `session` (fleetgate/tokens.py), so
`token list` shows it and `token revoke` ends it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import models, tokens, users
from .models import utcnow

LINK_PREFIX = "fgl_"
LINK_LIFETIME = timedelta(minutes=5)
SESSION_LIFETIME = timedelta(days=7)  # then sign in again: a lost laptop's cookie does not last for ever
SESSION_NAME = "browser session"


class SignInError(ValueError):
    """A login link that cannot open a session; the message tells the user how to get a new one."""


USED_OR_UNKNOWN = SignInError(
    "this sign-in link was used already, has expired or is not one; get a new one with: ssh git@HOST login"
)


@dataclass(frozen=True)
class LoginLink:
    """A new login link's secret (shown once) and when it stops working."""

    user: str
    secret: str
    expires: datetime


@dataclass(frozen=True)
class OpenedSession:
    """A session a login link opened: its row (as `token list` shows it) and the cookie's secret."""

    token: tokens.Token
    secret: str


def create_link(session: Session, user: str) -> LoginLink:
    """A new one-time link for `user`."""
    owner = users.row(session, user)
    secret = LINK_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        models.LoginLink(
            user_id=owner.id, link_hash=tokens.token_hash(secret), created=now, expires=now + LINK_LIFETIME
        )
    )
    session.flush()
    return LoginLink(user, secret, now + LINK_LIFETIME)


def redeem(session: Session, secret: str) -> OpenedSession:
    """Use the link `secret` (once) and open a session for its user; SignInError otherwise."""
    if not secret.startswith(LINK_PREFIX):
        raise USED_OR_UNKNOWN
    now = utcnow()
    link_hash = tokens.token_hash(secret)
    # Check and use in one statement: of two requests with the same link, exactly one updates the row.
    used = session.execute(
        update(models.LoginLink)
        .where(
            models.LoginLink.link_hash == link_hash,
            models.LoginLink.used.is_(None),
            models.LoginLink.expires > now,
        )
        .values(used=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        raise USED_OR_UNKNOWN
    link = session.scalar(select(models.LoginLink).where(models.LoginLink.link_hash == link_hash))
    user = session.get(models.User, link.user_id) if link is not None else None
    if user is None:
        raise USED_OR_UNKNOWN
    cookie = tokens.PREFIXES["session"] + secrets.token_urlsafe(32)
    row = models.AccessToken(
        user_id=user.id,
        name=SESSION_NAME,
        token_hash=tokens.token_hash(cookie),
        read_only=False,
        created=now,
        expires=now + SESSION_LIFETIME,
        kind="session",
    )
    session.add(row)
    session.flush()
    return OpenedSession(tokens.as_token(row, user.name), cookie)


def authenticate(session: Session, secret: str) -> tokens.Bearer | None:
    """Whom a session cookie's secret stands for, or None (unknown, revoked, expired, not a session)."""
    return tokens.authenticate(session, secret, kind="session")


def end(session: Session, secret: str) -> None:
    """Revoke the session whose cookie holds `secret` (signing out); an unknown one is already gone."""
    row = session.scalar(
        select(models.AccessToken).where(
            models.AccessToken.token_hash == tokens.token_hash(secret), models.AccessToken.kind == "session"
        )
    )
    if row is not None and row.revoked is None:
        row.revoked = utcnow()
        session.flush()
