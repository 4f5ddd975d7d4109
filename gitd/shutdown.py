"""SIGTERM at the SSH edge: no new sessions, running ones finish within the grace, the rest are interrupted.

An interrupted push is told so in one line on its terminal (the SSH channel's stderr, which git prints as
it is), its release is recorded as `interrupted` before its build is cancelled, and its refs never move
(gitd/interruption.py). Fetches and commands get the same line and are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .gateway import Gateway
from .sessions import Running

log = logging.getLogger(__name__)

# After the interrupt: a cancelled build stops within seconds (the docker CLI gets SIGTERM, then SIGKILL).
INTERRUPT_WAIT = 15.0
# Then the channels are closed, which ends any read still waiting on the client.
CLOSE_WAIT = 3.0


async def drain(gateway: Gateway, grace: float, hurry: asyncio.Event | None = None) -> int:
    """Let running sessions finish for up to `grace` s (less once `hurry` is set), then interrupt the
    rest; returns how many sessions were still running when the gateway gave up on them."""
    gateway.close()
    sessions = gateway.sessions
    if sessions.running():
        log.info("waiting up to %.0f s for %d running sessions", grace, len(sessions.running()))
    if await sessions.wait_idle(grace, hurry):
        return 0
    for running in sessions.running():
        await _interrupt(gateway, running, grace)
    if await sessions.wait_idle(INTERRUPT_WAIT):
        return 0
    for running in sessions.running():
        _close(running)
    await sessions.wait_idle(CLOSE_WAIT)
    return len(sessions.running())


async def _interrupt(gateway: Gateway, running: Running, grace: float) -> None:
    if running.kind == "push" and not running.interruption.interrupt():
        return  # its refs are moving: it ends in a moment, as it would have
    line = "fleetgate: the gateway is shutting down; try again in a minute"
    if running.kind == "push":
        assert running.fleet_id is not None
        why = f"the gateway shut down during the push (after a grace of {grace:.0f} s); push again"
        ended = await gateway.lookup(
            gateway.access.interrupt_releases, running.fleet_id, gateway.config.node_id, running.started, why
        )
        names = ", ".join(release.name for release in ended)
        recorded = f"; release {names} is recorded as interrupted" if names else ""
        line = (
            f"fleetgate: the gateway is shutting down: push interrupted after {grace:.0f} s{recorded}; "
            "push again in a minute"
        )
        log.warning("interrupted a push running past the grace of %.0f s%s", grace, recorded)
    with contextlib.suppress(Exception):  # the client may be gone already
        running.process.stderr.write(line.encode() + b"\n")  # type: ignore[attr-defined]
    running.cancelled.set()


def _close(running: Running) -> None:
    with contextlib.suppress(Exception):
        running.process.channel.close()  # type: ignore[attr-defined]
