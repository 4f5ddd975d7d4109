"""One push per fleet at a time, with a waiting line in which the newest push wins (DESIGN.md §2.2).

The hold is taken before the ref advertisement, so every push sees the refs as the previous push left
them. When the holder finishes and several pushes wait, the newest gets the fleet and the others are
told they were superseded: they would build a state the newer push replaces anyway. The line lives in
the database (fleetgate.push_queue), so gateway nodes sharing one database share it; this module is
its asyncio face, running each short transaction in the lookup pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fleetgate import push_queue
from fleetgate.db import Database

POLL_SECONDS = 0.2
log = logging.getLogger(__name__)


class Superseded(Exception):
    """A newer push to the same fleet took this one's place in the line."""


class WaitTimeout(Exception):
    """The push waited longer than the wait limit."""


class Closed(Exception):
    """The gateway is shutting down: a push that has not started does not start."""


Run = Callable[..., Awaitable[Any]]  # runs a blocking function off the event loop


class FleetQueue:
    """Per-fleet exclusive holds shared by every node on the database."""

    def __init__(self, database: Database, node_id: str, run: Run) -> None:
        self.database = database
        self.node_id = node_id
        self._run = run
        self.closed = False

    def close(self) -> None:
        """Let no more pushes in: waiting ones and newcomers get `Closed`."""
        self.closed = True

    def _join(self, fleet_id: int) -> tuple[push_queue.Ticket, push_queue.Turn]:
        with self.database.session() as session:
            return push_queue.join(session, fleet_id, self.node_id)

    def _poll(self, ticket: push_queue.Ticket) -> push_queue.Turn:
        with self.database.session() as session:
            return push_queue.poll(session, ticket)

    def _leave(self, ticket: push_queue.Ticket) -> None:
        with self.database.session() as session:
            push_queue.leave(session, ticket)

    @asynccontextmanager
    async def hold(self, fleet_id: int, notify: Callable[[int], None], timeout: float) -> AsyncIterator[None]:
        """Hold the fleet for the block; `notify(position)` is called while the push waits."""
        ticket, turn = await self._run(self._join, fleet_id)
        try:
            if turn.state != "holding":
                await self._wait(ticket, turn, notify, timeout)
            if self.closed:
                raise Closed
            keeper = asyncio.create_task(self._keep(ticket))
            try:
                yield
            finally:
                keeper.cancel()
        finally:
            await asyncio.shield(self._run(self._leave, ticket))

    async def _wait(self, ticket, turn, notify: Callable[[int], None], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        told = 0
        while turn.state == "waiting":
            if self.closed:
                raise Closed
            if turn.position != told:
                told = turn.position
                notify(told)
            if time.monotonic() > deadline:
                raise WaitTimeout
            await asyncio.sleep(POLL_SECONDS)
            turn = await self._run(self._poll, ticket)
        if turn.state == "superseded":
            raise Superseded

    async def _keep(self, ticket) -> None:
        """Refresh the held ticket, so that other nodes do not take it for a dead one."""
        while True:
            await asyncio.sleep(push_queue.TICKET_TTL / 3)
            try:
                await self._run(self._poll, ticket)
            except Exception:  # retried on the next beat; the ticket outlives two missed ones
                log.warning("could not refresh the push ticket of fleet %s", ticket.fleet_id, exc_info=True)
