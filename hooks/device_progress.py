"""Rollout progress for the pusher (`git push -o wait=devices`): which online devices run the release.

The push has already moved its ref when this runs; it only keeps the pusher's terminal informed, so
it never changes the push's result. A device counts as online when it talked to the API within
ONLINE_WINDOW: agents long-poll, so an online device's last request is never older than its wait.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetgate.units import duration

ONLINE_WINDOW = timedelta(minutes=2)
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class DeviceProgress:
    """One device as the rollout line counts it."""

    uuid: str
    status: str | None
    release: str | None
    last_seen: datetime | None


@dataclass(frozen=True)
class Rollout:
    """Where a release's rollout stands: the line to print and whether every online device runs it."""

    line: str
    done: bool


def rollout(release: str, devices: Sequence[DeviceProgress], now: datetime) -> Rollout:
    """Count the online devices running `release`, and the states of the others."""
    online = [d for d in devices if d.last_seen is not None and now - d.last_seen <= ONLINE_WINDOW]
    if not online:
        offline = f" ({len(devices)} offline)" if devices else ""
        return Rollout(f"no device is online to run {release[:7]}{offline}", True)
    running = sum(1 for d in online if d.release == release)
    others: dict[str, int] = {}
    for device in online:
        if device.release != release:
            state = device.status or "unknown"
            others[state] = others.get(state, 0) + 1
    parts = [f"{running}/{len(online)} devices running {release[:7]}"]
    parts += [f"{count} {state}" for state, count in sorted(others.items())]
    if len(devices) > len(online):
        parts.append(f"{len(devices) - len(online)} offline")
    return Rollout(", ".join(parts), running == len(online))


def wait_for_devices(
    release: str,
    read: Callable[[], Sequence[DeviceProgress]],
    say: Callable[[str], None],
    timeout: float,
    stop: threading.Event,
    now: Callable[[], datetime],
    every: float = 4.0,
) -> bool:
    """Print the rollout line whenever it changes, and every `every` seconds while it does not, until
    every online device runs `release`.

    Returns whether they all did before `timeout` seconds passed (or the pusher went away).
    """
    started = time.monotonic()
    deadline = started + timeout
    last, said_at = None, started
    while True:
        state = rollout(release, read(), now())
        if state.line != last:
            say(state.line)
            last, said_at = state.line, time.monotonic()
        elif time.monotonic() - said_at >= every:  # a slow download must not look like a hang
            say(f"{state.line} ({duration(time.monotonic() - started)})")
            said_at = time.monotonic()
        if state.done:
            return True
        if time.monotonic() >= deadline or stop.wait(min(POLL_SECONDS, every)):
            break
    say(f"stopped waiting after {timeout:.0f}s; see: fleetgate device list")
    return False
