"""The push's rollout to the fleet's servers: after the images are published, before the ref moves (§2.3).

Streams the engine's lines to the pusher host by host and sums up each host; a failed rollout is the
push's failure: the caller rejects the ref and ends the release `failed` with the reason returned here.
"""

from __future__ import annotations

import logging
import uuid

from fleetgate.deploy import fleet_rollout, servers
from fleetgate.deploy.fleet_rollout import FleetRolloutError, RolloutConfig
from fleetgate.deploy.rollout import RolloutError, RolloutResult

from fleetgate import fleets, releases
from fleetgate.db import Database

from .output import duration, sanitise
from .push_output import PushOutput

log = logging.getLogger(__name__)


def has_servers(database: Database, fleet_id: int) -> bool:
    """Whether a push to the fleet rolls out to servers."""
    with database.session(readonly=True) as session:
        return servers.has_servers(session, fleet_id)


def roll_out(
    database: Database, config: RolloutConfig, release_hash: str, who: str, out: PushOutput
) -> str | None:
    """Roll the release out to its fleet's servers; None when every host switched, else the reason."""
    with database.session(readonly=True) as session:
        release = releases.find_release(session, release_hash)
        fleet = fleets.fleet_by_id(session, release.fleet_id)
    if fleet is None:
        return "rollout failed: the fleet was removed during the push"
    out.info(f"Rolling out {release.name} to the servers of {fleet.slug}")
    try:
        result = fleet_rollout.roll_out(
            database, fleet, release, config, who, lambda line: out.info(sanitise(line))
        )
    except (FleetRolloutError, RolloutError) as error:
        return _failed(out, f"rollout failed: {error}")
    except Exception:  # a fault of fleetgate: a reference for the pusher, the traceback for the operator
        reference = uuid.uuid4().hex[:8]
        log.exception("rollout of release %s failed (reference %s)", release_hash, reference)
        return _failed(out, f"rollout failed: internal error in fleetgate (reference {reference})")
    _summary(out, result)
    if not result.ok:
        return _failed(out, f"rollout failed: {result.reason or 'see the lines above'}")
    out.success(f"Rolled out {release.name} to {len(result.hosts)} server(s)")
    return None


def _summary(out: PushOutput, result: RolloutResult) -> None:
    for host in result.hosts:
        line = f"{host.endpoint}: {host.state} in {duration(host.seconds)}"
        if host.message:
            line += f" ({host.message})"
        (out.success if host.state == "switched" else out.info)(sanitise(line))


def _failed(out: PushOutput, reason: str) -> str:
    reason = sanitise(reason).replace("\n", " ")
    out.error(reason)
    return reason
