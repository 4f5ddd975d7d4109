"""Wake-ups: the in-process hub that ends devices' long-polls when their fleet changes (DESIGN.md §8).

A long-poll takes a ticket for its fleet *before* it reads its target, then waits on it: a change
committed in between has already set the ticket, so no change is lost. Changes arrive three ways:
- from this process, right after commit (deploy/changes.py listeners; the build pipeline runs here);
- on PostgreSQL, by LISTEN on changes.CHANNEL from every node sharing the database;
- on SQLite, by polling the `fleet_changes` serial twice a second: the CLI that pinned a release is
  another process, and SQLite cannot notify it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fleetgate.db import Database

from .. import changes

log = logging.getLogger("fleetgate.deploy.wakeups")
POLL_SECONDS = 0.5
RECONNECT_SECONDS = 2.0


class WakeupHub:
    """Per-fleet events that long-polls wait on; `start` begins listening for changes."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.closing = False
        self._events: dict[int, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def ticket(self, fleet_id: int) -> asyncio.Event:
        """The event the next change of the fleet sets."""
        event = self._events.get(fleet_id)
        if event is None:
            event = self._events[fleet_id] = asyncio.Event()
        return event

    async def wait(self, ticket: asyncio.Event, timeout: float) -> bool:
        """Wait until the ticket's fleet changes (True) or `timeout` seconds pass (False)."""
        if self.closing:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), timeout)
        return ticket.is_set()

    def wake(self, fleet_id: int) -> None:
        """Wake every request waiting on the fleet (call on the hub's loop)."""
        event = self._events.pop(fleet_id, None)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        """Wake every waiting request (after a gap in which changes may have been missed)."""
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    def _from_thread(self, fleet_id: int) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.wake, fleet_id)

    async def start(self) -> None:
        """Listen for changes from this process and from the database."""
        self._loop = asyncio.get_running_loop()
        changes.add_listener(self._from_thread)
        listen = self._listen if self.database.dialect == "postgresql" else self._poll
        self._task = asyncio.create_task(listen())

    async def close(self) -> None:
        """Stop listening and release every waiting request (it answers 304 at once)."""
        self.closing = True
        changes.remove_listener(self._from_thread)
        self.wake_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _serial(self) -> int:
        with self.database.session(readonly=True) as session:
            return changes.latest_serial(session)

    def _changed(self, serial: int) -> tuple[int, list[int] | None]:
        with self.database.session(readonly=True) as session:
            return changes.changed_since(session, serial)

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        serial: int | None = None
        while True:
            try:
                if serial is None:
                    serial = await loop.run_in_executor(None, self._serial)
                else:
                    serial, changed = await loop.run_in_executor(None, self._changed, serial)
                    if changed is None:
                        self.wake_all()
                    for fleet_id in changed or ():
                        self.wake(fleet_id)
            except Exception:  # a busy or briefly broken database must not end the wake-ups
                log.warning("reading fleet changes failed; retrying", exc_info=True)
            await asyncio.sleep(POLL_SECONDS)

    async def _listen(self) -> None:
        import psycopg  # only on PostgreSQL

        conninfo = self.database.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {changes.CHANNEL}")
                    self.wake_all()  # anything committed while not listening is re-read by the waiters
                    async for notice in conn.notifies():
                        if notice.payload.isdigit():
                            self.wake(int(notice.payload))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("listening for fleet changes failed; reconnecting", exc_info=True)
            await asyncio.sleep(RECONNECT_SECONDS)
