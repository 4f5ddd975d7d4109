"""Access tokens: a user's bearer credential for the HTTP API, stored hashed and shown once.

A token starts with `fgt_` so that it is never mistaken for a device's API key (which is random text of
its own kind, checked against another table): neither is accepted where the other belongs. A browser's
session (fleetgate/sessions.py) is a row of the same table, of kind `session`, with a secret of its own
prefix: it is listed and revoked with the tokens, but a session cookie is no bearer token, nor the reverse
(a cookie rides along on every request a page makes, so it must only ever meet CSRF-checked forms).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import models, users
from .models import utcnow

PREFIX = "fgt_"
PREFIXES = {"token": PREFIX, "session": "fgs_"}  # each kind of secret by its prefix
LAST_USED_STEP = timedelta(minutes=5)  # `last_used` is written at most this often: not one write per request
MAX_DAYS = 3650
NAME_LIMIT = 100


class TokenError(ValueError):
    """A token was refused or not found; the message says what to do."""


@dataclass(frozen=True)
class Token:
    """An access token as listed: never its secret."""

    id: int
    user: str
    name: str
    read_only: bool
    created: datetime
    expires: datetime | None
    revoked: datetime | None
    last_used: datetime | None
    kind: str = "token"  # or "session": a browser's, opened with a login link


@dataclass(frozen=True)
class Bearer:
    """Whom a presented token authenticates."""

    user: str
    token_id: int
    read_only: bool
    last_used: datetime | None


def token_hash(secret: str) -> str:
    """The stored form of a token (SHA-256: the secret has 256 random bits, no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def as_token(row: models.AccessToken, user: str) -> Token:
    """The row as listed (the user's name is looked up by the caller)."""
    return Token(
        row.id, user, row.name, row.read_only, row.created, row.expires, row.revoked, row.last_used, row.kind
    )


def create_token(
    session: Session, user: str, name: str | None, read_only: bool, days: int | None
) -> tuple[Token, str]:
    """A new token for `user`; returns it and its secret, which is never stored or shown again."""
    owner = users.row(session, user)
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise TokenError(f"--expires takes 1 to {MAX_DAYS} days, not {days}")
    name = (name or "token").strip()
    if not name or len(name) > NAME_LIMIT or not name.isprintable():
        raise TokenError(f"a token name is 1 to {NAME_LIMIT} printable characters")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = models.AccessToken(
        user_id=owner.id,
        name=name,
        token_hash=token_hash(secret),
        read_only=read_only,
        created=now,
        expires=None if days is None else now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return as_token(row, user), secret


def list_tokens(session: Session, user: str) -> list[Token]:
    """The user's tokens and browser sessions, oldest first, revoked ones included (marked)."""
    owner = users.row(session, user)
    rows = session.scalars(
        select(models.AccessToken)
        .where(models.AccessToken.user_id == owner.id)
        .order_by(models.AccessToken.id)
    )
    return [as_token(row, user) for row in rows]


def revoke_token(session: Session, user: str, token_id: int) -> Token:
    """Revoke one of the user's tokens; it is refused from the next request on."""
    owner = users.row(session, user)
    # An id no database column can hold is simply not a token (schemathesis sent 10^24: a fault, before).
    row = session.get(models.AccessToken, token_id) if 0 < token_id < 2**63 else None
    if row is None or row.user_id != owner.id:
        raise TokenError(f"{user} has no token {token_id}; see: token list")
    if row.revoked is None:
        row.revoked = utcnow()
        session.flush()
    return as_token(row, user)


def touch(session: Session, token_id: int) -> None:
    """Record that the token was used now, unless that was recorded less than LAST_USED_STEP ago."""
    row = session.get(models.AccessToken, token_id)
    now = utcnow()
    if row is not None and (row.last_used is None or now - row.last_used >= LAST_USED_STEP):
        row.last_used = now
        session.flush()


def authenticate(session: Session, secret: str, kind: str = "token") -> Bearer | None:
    """Whom `secret` authenticates as a `kind`, or None: unknown, revoked, expired, or another kind."""
    if not secret.startswith(PREFIXES[kind]):
        return None  # a device key, a password, a session as a token: never accepted
    row = session.scalar(
        select(models.AccessToken).where(models.AccessToken.token_hash == token_hash(secret))
    )
    now = utcnow()
    if row is None or row.kind != kind or row.revoked is not None:
        return None
    if row.expires is not None and row.expires <= now:
        return None
    user = session.get(models.User, row.user_id)
    if user is None:
        return None
    return Bearer(user.name, row.id, row.read_only, row.last_used)
