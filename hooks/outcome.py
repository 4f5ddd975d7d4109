"""How a push ends, in words (pure): deployed, built but pinned, rolled out to N of M servers, or failed.

The end of a push must say what really happened to the fleet: a pushed release that stays behind a
pin, or a rollout that stopped on one server, must not read like a deploy. Each verdict is one status
line and, for a rejected ref, the short reason git prints as `! [remote rejected] master -> master
(reason)`: short enough that git's line stays within the pusher's 100 columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .build_failure import Failure
from .output import fit

REASON_WIDTH = 52  # ` ! [remote rejected] master -> balena-nocache (…)` leaves this much in 100 columns


@dataclass(frozen=True)
class Said:
    """A verdict for the pusher: a status line, and the reason for a rejected ref ("" when it moved)."""

    kind: str  # Success, Warn, Info or Error
    line: str
    reason: str = ""
    stored: str = ""  # the release's error, in full (release show)


def build_failed(release: str, failure: Failure, reference: str | None = None) -> Said:
    """The one error line of a failed build: the release, the service at fault and why."""
    if failure.status == "cancelled":
        reason = f"build cancelled: {failure.detail}"
        return Said("Error", f"{release}: {reason}", fit(reason, REASON_WIDTH), reason)
    detail = failure.detail if reference is None else f"{failure.detail} (reference {reference})"
    where = f"service {failure.service}" if failure.service else ""
    line = (
        f"{release}: {where} failed to build: {detail}" if where else f"{release} failed to build: {detail}"
    )
    stored = f"build failed: {where}: {detail}" if where else f"build failed: {detail}"
    if reference is not None:  # fleetgate's fault: what the operator needs to find it in the log
        short = f"build failed: gateway fault (reference {reference})"
    else:
        short = f"build failed: {where} of {release}" if where else f"build failed: {release}; see above"
    return Said("Error", line, fit(short, REASON_WIDTH), stored)


def rollout_failed(release: str, reason: str) -> Said:
    """The one error line of a rollout that failed (the ref stays, the release fails)."""
    return Said("Error", f"{release} not deployed: {reason}", fit(reason, REASON_WIDTH), reason)


def servers_line(states: Sequence[str]) -> str:
    """`Servers: 1 failed, 2 switched back, 1 not started`: where each server of a failed rollout stands."""
    counts = Counter(states)
    return "Servers: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


@dataclass(frozen=True)
class Landing:
    """Where a built release landed once its ref moved."""

    release: str  # OWNER/NAME#N
    fleet: str  # OWNER/NAME
    target: str | None  # the fleet's target now (a release name), None when it has none
    pinned: bool
    servers: tuple[int, int] | None = None  # (switched, total) when the push rolled out to servers
    devices: int = 0  # devices that follow the fleet's target


def landed(where: Landing) -> Said:
    """The end of a push whose ref moved: deployed, or built and left behind a pin or a newer release."""
    if where.target == where.release:
        done = [] if where.servers is None else [f"rolled out to {where.servers[0]} of {_servers(where)}"]
        if where.devices:
            done.append(f"{where.devices} device{'s' if where.devices != 1 else ''} update to it")
        if not done:
            done.append("the fleet's target (no devices or servers yet)")
        return Said("Success", f"Deployed {where.release}: {'; '.join(done)}")
    if where.pinned:
        return Said(
            "Warn",
            f"Built {where.release}, not deployed: the fleet is pinned to {_number(where)} "
            f"(to follow pushes again: fleetgate fleet pin {where.fleet} --latest)",
        )
    return Said("Warn", f"Built {where.release}; the fleet's target stays {_number(where)}, a newer release")


def _servers(where: Landing) -> str:
    total = where.servers[1] if where.servers else 0
    return f"{total} server{'s' if total != 1 else ''}"


def _number(where: Landing) -> str:
    """`#4` for a release of the same fleet (the fleet is named already), else the whole name."""
    if where.target is None:
        return "no release"
    if where.target.startswith(f"{where.fleet}#"):
        return where.target.removeprefix(where.fleet)
    return where.target
