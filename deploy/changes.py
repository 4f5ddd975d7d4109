"""Fleet changes: the database side of waking devices when what they should run changes (DESIGN.md §8).

Whoever changes a device's target (a new fleet target, a pin, a rollback, a variable, a device pin)
calls `notify` inside its transaction. It does three things, so that every long-poll wakes wherever
it waits:
- bumps the fleet's row in `fleet_changes` (a serial), which a serve process on SQLite polls: the CLI
  that pinned is another process, and SQLite has no NOTIFY;
- on PostgreSQL, `NOTIFY fleetgate_fleets, '<fleet id>'`, delivered to every node at commit;
- after commit, calls this process's listeners at once (the build pipeline runs inside `serve`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import event, func, insert, select, text, update
from sqlalchemy.orm import Session

from fleetgate import fleets, models
from fleetgate.models import utcnow

CHANNEL = "fleetgate_fleets"
_PENDING = "fleetgate_changed_fleets"  # session.info key: fleets changed in this transaction

log = logging.getLogger("fleetgate.deploy.changes")
_listeners: list[Callable[[int], None]] = []
_lock = threading.Lock()


def notify(session: Session, fleet_id: int) -> None:
    """Record that the devices of `fleet_id` may have a new target; they are woken at commit."""
    fleets.lock(session, fleet_id)  # serialises the upsert below per fleet on PostgreSQL
    following = select(func.coalesce(func.max(models.FleetChange.serial), 0) + 1).scalar_subquery()
    now = utcnow()
    bumped = session.execute(
        update(models.FleetChange)
        .where(models.FleetChange.fleet_id == fleet_id)
        .values(serial=following, changed_at=now)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(
            insert(models.FleetChange).values(fleet_id=fleet_id, serial=following, changed_at=now)
        )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": str(fleet_id)}
        )
    session.info.setdefault(_PENDING, set()).add(fleet_id)


def latest_serial(session: Session) -> int:
    """The newest change's serial (0 when nothing changed yet)."""
    return session.scalar(select(func.coalesce(func.max(models.FleetChange.serial), 0))) or 0


def changed_since(session: Session, serial: int) -> tuple[int, list[int] | None]:
    """(the newest serial, the fleets changed after `serial`; None: any fleet may have changed).

    Serials fall when the fleet holding the newest one is removed (its row goes with it), and a change
    numbered below `serial` would go unseen: then every fleet counts as changed, once.
    """
    newest = latest_serial(session)
    if newest < serial:
        return newest, None
    rows = session.scalars(select(models.FleetChange.fleet_id).where(models.FleetChange.serial > serial))
    return newest, sorted(set(rows))


def add_listener(listener: Callable[[int], None]) -> None:
    """Call `listener(fleet_id)` after each commit that changed the fleet (from any thread)."""
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Callable[[int], None]) -> None:
    """Stop calling `listener`."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    changed = session.info.pop(_PENDING, None)
    if not changed:
        return
    with _lock:
        listeners = list(_listeners)
    for fleet_id in changed:
        for listener in listeners:
            try:
                listener(fleet_id)
            except Exception:  # a listener's fault must not fail the commit that already happened
                log.exception("a wake-up listener failed for fleet %s", fleet_id)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
