"""The per-fleet push line in the database: one push holds a fleet, the newest waiting push is next.

Every node of a cluster sharing one database sees the same line (DESIGN.md §2.2, §8). Each step is a
short transaction that serialises on the fleet's row (`SELECT … FOR UPDATE` on PostgreSQL, the write
lock on SQLite); tickets of a node that died expire, since their holders stop refreshing them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from . import models
from .models import utcnow

TICKET_TTL = 30.0
State = Literal["holding", "waiting", "superseded"]


@dataclass(frozen=True)
class Ticket:
    """A push's place in a fleet's line."""

    id: int
    fleet_id: int
    node_id: str


@dataclass(frozen=True)
class Turn:
    """Where a ticket stands: holding the fleet, waiting at `position` (1 is next in age), or superseded."""

    state: State
    position: int = 0


def join(session: Session, fleet_id: int, node_id: str, now: datetime | None = None) -> tuple[Ticket, Turn]:
    """Get in line for the fleet; the turn says whether the fleet was free."""
    now = now or utcnow()
    _lock_fleet(session, fleet_id)
    row = models.PushTicket(fleet_id=fleet_id, node_id=node_id, state="waiting", expires=_expiry(now))
    session.add(row)
    session.flush()
    ticket = Ticket(row.id, fleet_id, node_id)
    return ticket, _turn(session, ticket, now)


def poll(session: Session, ticket: Ticket, now: datetime | None = None) -> Turn:
    """Refresh the ticket and see whether its turn came (taking the fleet if it did)."""
    now = now or utcnow()
    _lock_fleet(session, ticket.fleet_id)
    return _turn(session, ticket, now)


def leave(session: Session, ticket: Ticket) -> None:
    """Leave the line, releasing the fleet if the ticket held it."""
    session.execute(delete(models.PushTicket).where(models.PushTicket.id == ticket.id))


def clear_node(session: Session, node_id: str) -> int:
    """At start: drop the tickets a previous run of this node left behind; returns how many."""
    result = session.execute(delete(models.PushTicket).where(models.PushTicket.node_id == node_id))
    return result.rowcount or 0


def _lock_fleet(session: Session, fleet_id: int) -> None:
    # PostgreSQL: the fleet's row lock orders the line's transactions; SQLite's write lock does already.
    session.execute(select(models.Fleet.id).where(models.Fleet.id == fleet_id).with_for_update())


def _expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=TICKET_TTL)


def _turn(session: Session, ticket: Ticket, now: datetime) -> Turn:
    table = models.PushTicket
    session.execute(delete(table).where(table.fleet_id == ticket.fleet_id, table.expires < now))
    session.execute(update(table).where(table.id == ticket.id).values(expires=_expiry(now)))
    rows = session.execute(
        select(table.id, table.state).where(table.fleet_id == ticket.fleet_id).order_by(table.id)
    ).all()
    mine = next((state for row_id, state in rows if row_id == ticket.id), "superseded")
    if mine != "waiting":
        return Turn(mine)
    waiting = [row_id for row_id, state in rows if state == "waiting"]
    if any(state == "holding" for _, state in rows) or waiting[-1] != ticket.id:
        return Turn("waiting", waiting.index(ticket.id) + 1)
    # The fleet is free and this is the newest push: it goes next, and the older ones are superseded.
    session.execute(update(table).where(table.id == ticket.id).values(state="holding"))
    session.execute(
        update(table)
        .where(table.fleet_id == ticket.fleet_id, table.state == "waiting")
        .values(state="superseded")
    )
    return Turn("holding")
