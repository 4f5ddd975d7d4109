"""The SSH sessions running now: what a shutdown waits for, and interrupts once the grace is over."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from fleetgate.models import utcnow

from .interruption import Interruption


@dataclass(eq=False)  # eq=False: each session is itself, hashed by identity
class Running:
    """One session: its channel, how to stop it, and what it does (known once its command is parsed)."""

    process: object  # the asyncssh SSHServerProcess
    kind: str = "session"  # then "push", "fetch" or "command"
    fleet_id: int | None = None  # a push's fleet
    cancelled: threading.Event = field(default_factory=threading.Event)  # set: stop (client gone, shutdown)
    started: datetime = field(default_factory=utcnow)
    interruption: Interruption = field(default_factory=Interruption)


class Sessions:
    """The running sessions; `closing` once the gateway stops taking new ones."""

    def __init__(self) -> None:
        self._running: set[Running] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False

    @contextlib.contextmanager
    def track(self, running: Running) -> Iterator[Running]:
        """Count the session as running for the block."""
        self._running.add(running)
        self._idle.clear()
        try:
            yield running
        finally:
            self._running.discard(running)
            if not self._running:
                self._idle.set()

    def running(self) -> list[Running]:
        """The sessions running now, oldest first."""
        return sorted(self._running, key=lambda r: r.started)

    async def wait_idle(self, seconds: float, hurry: asyncio.Event | None = None) -> bool:
        """Wait until no session runs, at most `seconds` (or until `hurry` is set); True when none does."""
        waits = [asyncio.ensure_future(self._idle.wait())]
        if hurry is not None:
            waits.append(asyncio.ensure_future(hurry.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return self._idle.is_set()
