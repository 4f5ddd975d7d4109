"""Users: the people who push, named by lower-case slugs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import models

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,38}")
# `git` is the SSH login name every user may use (DESIGN.md §2.1): a user of that name would be ambiguous.
RESERVED = frozenset({"git"})


class UserError(ValueError):
    """A user command was refused; the message says what to do."""


@dataclass(frozen=True)
class User:
    """A user as the rest of fleetgate sees it."""

    id: int
    name: str
    created: datetime


def check_name(name: str, what: str = "user name") -> str:
    """Return `name` if it is a slug (a-z, 0-9, '-', at most 39, not starting with '-'), else raise."""
    if not NAME.fullmatch(name):
        raise UserError(
            f"invalid {what} {name!r}: use 1-39 lower-case letters, digits and '-', not starting with '-'"
        )
    return name


def _user(row: models.User) -> User:
    return User(id=row.id, name=row.name, created=row.created)


def row(session: Session, name: str) -> models.User:
    """The user's row, or a UserError saying how to create the user."""
    found = session.scalar(select(models.User).where(models.User.name == name))
    if found is None:
        raise UserError(f"no user {name!r}; create it with: fleetgate user add {name}")
    return found


def add_user(session: Session, name: str) -> User:
    """Create a user."""
    check_name(name)
    if name in RESERVED:
        raise UserError(f"{name!r} is reserved (it is the SSH login name); choose another user name")
    if user_exists(session, name):
        raise UserError(f"user {name!r} already exists")
    created = models.User(name=name)
    session.add(created)
    try:
        session.flush()
    except IntegrityError:  # added by someone else since the check above (PostgreSQL, concurrently)
        raise UserError(f"user {name!r} already exists") from None
    return _user(created)


def get_user(session: Session, name: str) -> User:
    """The user called `name`."""
    return _user(row(session, name))


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return [_user(u) for u in session.scalars(select(models.User).order_by(models.User.name))]


def user_exists(session: Session, name: str) -> bool:
    """Whether a user called `name` exists."""
    return bool(session.scalar(select(func.count()).where(models.User.name == name)))


def remove_user(session: Session, name: str) -> None:
    """Delete a user with their keys and memberships; a user who still owns fleets is refused."""
    user = row(session, name)
    owned = session.scalars(
        select(models.Fleet.name).where(models.Fleet.owner_id == user.id).order_by(models.Fleet.name)
    ).all()
    if owned:
        fleets = ", ".join(f"{name}/{fleet}" for fleet in owned)
        raise UserError(f"user {name!r} still owns {fleets}; remove them first with: fleetgate fleet remove")
    session.delete(user)
    session.flush()
