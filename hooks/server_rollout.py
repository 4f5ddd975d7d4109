"""The push's rollout to the fleet's servers: after the images are published, before the ref moves (§2.3).

Streams the engine's lines to the pusher host by host (and, while a host is silent, where the rollout
stands) and sums up each host; a failed rollout is the push's failure: the caller rejects the ref and
ends the release `failed` with the reason returned here.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from fleetgate.deploy import targets
from fleetgate.deploy.servers import fleet_rollout
from fleetgate.deploy.servers import inventory as servers
from fleetgate.deploy.servers.fleet_rollout import FleetRolloutError, RolloutConfig
from fleetgate.deploy.servers.rollout import RolloutError, RolloutResult

from fleetgate import fleets, releases
from fleetgate.db import Database
from fleetgate.ticker import Ticker

from .outcome import Said, rollout_failed, servers_line
from .output import duration, sanitise
from .push_output import PushOutput

log = logging.getLogger(__name__)


def has_servers(database: Database, fleet_id: int) -> bool:
    """Whether the fleet has servers (a push to it rolls out to them unless the fleet is pinned)."""
    with database.session(readonly=True) as session:
        return servers.has_servers(session, fleet_id)


def follows_pushes(database: Database, fleet_id: int) -> bool:
    """Whether a push rolls out to the fleet's servers: it has some, and is not pinned."""
    with database.session(readonly=True) as session:
        pinned = targets.target_of(session, fleet_id).pinned
        return servers.has_servers(session, fleet_id) and not pinned


@dataclass(frozen=True)
class Rolled:
    """How the push's rollout went: skipped (pinned), every server switched, or failed and why."""

    servers: tuple[int, int] | None  # (switched, total); None when no rollout ran
    failed: Said | None = None


def roll_out(
    database: Database, config: RolloutConfig, release_hash: str, who: str, out: PushOutput, interval: float
) -> Rolled:
    """Roll the release out to its fleet's servers, saying where it stands at least every `interval` s."""
    with database.session(readonly=True) as session:
        release = releases.find_release(session, release_hash)
        fleet = fleets.fleet_by_id(session, release.fleet_id)
        target = targets.target_of(session, release.fleet_id)
    if fleet is None:
        return _failed(out, release.name, "rollout failed: the fleet was removed during the push")
    if target.pinned:
        # Servers follow the target, like devices: a pin (or a rollback) is not undone by a push.
        pinned = target.release.name if target.release else "no release"
        out.info(f"{fleet.slug} is pinned to {pinned}; its servers keep it")
        return Rolled(None)
    out.info(f"Rolling out {release.name} to the servers of {fleet.slug}")
    started, last = time.monotonic(), [""]

    def said(line: str) -> None:
        last[0] = sanitise(line)
        ticker.touch()
        out.info(last[0])

    def still() -> str:  # a health check or a pull can take minutes without a line
        return f"Still rolling out {release.name} ({duration(time.monotonic() - started)}); last: {last[0]}"

    ticker = Ticker(out.info, still, interval)
    try:
        with ticker:
            result = fleet_rollout.roll_out(database, fleet, release, config, who, said)
    except (FleetRolloutError, RolloutError) as error:
        return _failed(out, release.name, f"rollout failed: {error}")
    except Exception:  # a fault of fleetgate: a reference for the pusher, the traceback for the operator
        reference = uuid.uuid4().hex[:8]
        log.exception("rollout of release %s failed (reference %s)", release_hash, reference)
        return _failed(
            out, release.name, f"rollout failed: internal error in fleetgate (reference {reference})"
        )
    _summary(out, result)
    if not result.ok:
        rolled = _failed(out, release.name, result.failure)
        if result.hosts:
            out.info(servers_line([host.state for host in result.hosts]))
        return rolled
    switched = sum(1 for host in result.hosts if host.state == "switched")
    return Rolled((switched, len(result.hosts)))


def _summary(out: PushOutput, result: RolloutResult) -> None:
    for host in result.hosts:
        line = f"{host.endpoint}: {host.state} in {duration(host.seconds)}"
        if host.message:
            line += f" ({host.message})"
        (out.success if host.state == "switched" else out.info)(sanitise(line))


def _failed(out: PushOutput, release: str, reason: str) -> Rolled:
    said = rollout_failed(release, sanitise(reason).replace("\n", " "))
    out.say(said)
    return Rolled(None, said)


def restore(database: Database, config: RolloutConfig, fleet_id: int, who: str, out: PushOutput) -> None:
    """Switch the servers back to the fleet's target after a rollout whose ref did not move after all."""
    with database.session(readonly=True) as session:
        target = targets.target_of(session, fleet_id).release
        fleet = fleets.fleet_by_id(session, fleet_id)
    if target is None or fleet is None:
        log.warning(
            "fleet %s: the ref did not move after a rollout and there is no target to go back to", fleet_id
        )
        out.info("the ref did not move; the servers keep the new release until the next rollout")
        return
    out.info(f"the ref did not move; switching the servers back to {target.name}")
    try:
        result = fleet_rollout.roll_out(
            database, fleet, target, config, who, lambda line: out.info(sanitise(line))
        )
    except Exception:  # logged for the operator; the push has already failed
        log.exception("fleet %s: switching the servers back to %s failed", fleet.slug, target.name)
        return
    if not result.ok:
        log.error(
            "fleet %s: switching the servers back to %s failed: %s", fleet.slug, target.name, result.reason
        )
