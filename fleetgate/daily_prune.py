"""The daily prune of `fleetgate serve` (issue 19): `fleetgate prune`, as the operator, every
FLEETGATE_PRUNE_INTERVAL seconds (the first a little after the start, so a gateway restarted more
often than daily still prunes), off when that or FLEETGATE_RELEASES_KEPT is off.

An asyncio task on the gateway's loop runs each prune in a worker thread; when the loop ends, the task
is cancelled, the prune stops between fleets (never holding a server's deploy lock) and the loop's
shutdown waits for it. Every removal and every problem is one log line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import Database
    from .settings import Settings

FIRST_DELAY = 600.0  # seconds after the start
WHO = "fleetgate serve (daily prune)"
log = logging.getLogger("fleetgate.prune")
_running: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks


def schedule(settings: Settings, database: Database) -> asyncio.Task | None:
    """Start pruning every FLEETGATE_PRUNE_INTERVAL seconds on the running loop; None when it is off."""
    if not settings.prune_interval or settings.releases_kept is None:
        log.info("daily prune off (FLEETGATE_PRUNE_INTERVAL or FLEETGATE_RELEASES_KEPT is off)")
        return None
    task = asyncio.get_running_loop().create_task(_every(settings, database), name="daily prune")
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def _every(settings: Settings, database: Database) -> None:
    delay = min(settings.prune_interval, FIRST_DELAY)
    stop = threading.Event()
    try:
        while True:
            await asyncio.sleep(delay)
            delay = settings.prune_interval
            try:
                await asyncio.to_thread(prune_once, settings, database, stop)
            except Exception:  # a fault of fleetgate: logged, and the next day tries again
                log.exception("the daily prune failed")
    finally:
        stop.set()


def prune_once(settings: Settings, database: Database, stop: threading.Event | None = None) -> None:
    """One prune as the operator, logged line by line."""
    from .operations import prune as prune_ops
    from .operations.actor import OPERATOR
    from .operations.scope import Context

    report = prune_ops.prune(Context(database, settings), OPERATOR, dry_run=False, who=WHO, stop=stop)
    for removal in report.removals:
        (log.warning if removal.refused else log.info)("prune: %s", removal.describe(False))
    for problem in report.problems:
        log.warning("prune: could not prune %s", problem)
    done = sum(1 for r in report.removals if not r.refused)
    log.info("prune: removed %d item(s); FLEETGATE_RELEASES_KEPT=%d", done, report.keep)
