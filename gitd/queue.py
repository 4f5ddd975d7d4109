"""One push per fleet at a time, with a waiting line in which the newest push wins (DESIGN.md §2.2).

The lock is taken before the ref advertisement, so every push sees the refs as the previous push
left them. When the holder finishes and several pushes wait, the newest gets the fleet and the
others are told they were superseded: they would build a state the newer push replaces anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class Superseded(Exception):
    """A newer push to the same fleet took this one's place in the line."""


class WaitTimeout(Exception):
    """The push waited longer than the wait limit."""


class FleetQueue:
    """Per-fleet exclusive holds for the pushes of this gateway process."""

    def __init__(self) -> None:
        self._busy: set[int] = set()
        self._waiting: dict[int, list[asyncio.Future[None]]] = {}

    def waiting(self, fleet_id: int) -> int:
        """How many pushes wait for this fleet."""
        return sum(1 for f in self._waiting.get(fleet_id, ()) if not f.done())

    @asynccontextmanager
    async def hold(self, fleet_id: int, notify: Callable[[int], None], timeout: float) -> AsyncIterator[None]:
        """Hold the fleet for the block; `notify(position)` is called when the push has to wait."""
        if fleet_id in self._busy:
            await self._wait(fleet_id, notify, timeout)
        else:
            self._busy.add(fleet_id)
        try:
            yield
        finally:
            self._release(fleet_id)

    async def _wait(self, fleet_id: int, notify: Callable[[int], None], timeout: float) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._waiting.setdefault(fleet_id, [])
        line.append(turn)
        notify(self.waiting(fleet_id))
        try:
            await asyncio.wait_for(asyncio.shield(turn), timeout)
        except TimeoutError:
            if turn.done() and not turn.exception():
                return  # the turn came just as the wait ran out: take it
            turn.cancel()
            raise WaitTimeout from None
        except BaseException:
            if turn.done() and not turn.cancelled() and not turn.exception():
                self._release(fleet_id)  # got the turn but is being cancelled: pass it on
            turn.cancel()
            raise

    def _release(self, fleet_id: int) -> None:
        line = [f for f in self._waiting.pop(fleet_id, []) if not f.done()]
        if not line:
            self._busy.discard(fleet_id)
            return
        for older in line[:-1]:
            older.set_exception(Superseded())
        line[-1].set_result(None)
