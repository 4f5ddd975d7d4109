"""The JSON of every listing, one function per noun: the CLI's `--json`, the SSH commands and the HTTP API
all print these, so the three front-ends agree to the byte."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetgate import fleets, releases, tokens
from fleetgate.deploy import targets, variables
from fleetgate.device_types import device_type

from .devices import DeviceRow
from .fleets import FleetDetails
from .releases import ReleaseDetails
from .servers import ServerRow

if TYPE_CHECKING:
    from fleetgate.settings import Settings


def encoded(item: Any) -> Any:
    """json.dumps' `default`: times in ISO 8601, dataclasses as objects."""
    if isinstance(item, datetime):
        return item.isoformat()
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    raise TypeError(f"cannot serialise {type(item).__name__}")


def to_json(value: Any, indent: int | None = 2) -> str:
    """`value` as JSON, as every front-end prints it."""
    return json.dumps(value, default=encoded, indent=indent)


def remote_url(settings: Settings, found: fleets.Fleet) -> str:
    """The git remote a user adds for the fleet: `FLEETGATE_PUBLIC_SSH_URL/OWNER/NAME.git`."""
    return f"{settings.ssh_url()}/{found.owner}/{found.name}.git"


def fleet(found: fleets.Fleet) -> dict[str, Any]:
    """A fleet as `fleet list --json` shows it."""
    return {**dataclasses.asdict(found), "slug": found.slug}


def target(found: targets.Target) -> dict[str, Any]:
    """The target release and whether it is pinned."""
    release = found.release
    shown = None if release is None else {"release": release.name, "id": release.number, "hash": release.hash}
    return {"target": shown, "pinned": found.pinned}


def fleet_details(details: FleetDetails, settings: Settings) -> dict[str, Any]:
    """A fleet as `fleet show --json` shows it."""
    found = details.fleet
    remote = remote_url(settings, found)
    return {
        "fleet": found.slug,
        "id": found.id,
        "device_type": found.device_type,
        "arch": device_type(found.device_type).arch,
        "owner": found.owner,
        "members": list(details.members),
        "remote": remote,
        "wait_for_devices": found.wait_for_devices,
        **target(details.target),
    }


def release(found: releases.Release) -> dict[str, Any]:
    """Every field of a release."""
    duration = found.duration
    return {
        "release": found.name,
        "id": found.number,
        "hash": found.hash,
        "short_hash": found.short_hash,
        "fleet": found.fleet,
        "status": found.status,
        "commit": found.commit,
        "branch": found.branch,
        "options": list(found.options),
        "note": found.note,
        "created_by": {"user": found.created_by_user, "key": found.created_by_key},
        "created": found.created_at,
        "finished": found.finished_at,
        "duration_seconds": None if duration is None else duration.total_seconds(),
        "builder": found.builder,
        "platform": found.platform,
        "node": found.node_id,
        "error": found.error,
        "composition": found.composition,
    }


def release_details(details: ReleaseDetails) -> dict[str, Any]:
    """A release with its images and their build logs."""
    return {**release(details.release), "images": [dataclasses.asdict(i) for i in details.images]}


def device(row: DeviceRow) -> dict[str, Any]:
    """A device with what it runs and should run."""
    found = row.device
    return {
        "uuid": found.uuid,
        "name": found.name,
        "device_type": found.device_type,
        "status": found.status,
        "release": found.release,
        "target": row.target,
        "pinned": found.pinned_release is not None,
        "progress": found.progress,
        "services": dict(found.services),
        "message": found.message,
        "last_seen": found.last_seen,
        "registered_at": found.registered_at,
    }


def variable(found: variables.Variable) -> dict[str, Any]:
    """A variable; a secret's value is `***`."""
    return {
        "key": found.key,
        "value": found.shown,
        "service": found.service,
        "device": found.device_uuid,
        "secret": found.secret,
    }


def server(row: ServerRow) -> dict[str, Any]:
    """A server of a fleet."""
    address = row.server.address
    return {
        "fleet": row.fleet.slug,
        "address": address.url,
        "user": address.user,
        "host": address.host,
        "port": address.port,
        "role": row.server.role,
        "key": row.server.key_path,
        "host_key": "trusted" if row.trusted else "not trusted",
        "created_at": row.server.created_at,
    }


def server_status(status, names: dict[str, str]) -> dict[str, Any]:
    """What one server runs, as `server status --json` shows it."""
    lock = (
        None
        if status.lock is None
        else {"who": status.lock.who, "since": status.lock.since, "release": status.lock.release}
    )
    return {
        "server": status.endpoint,
        "reachable": status.reachable,
        "error": status.error,
        "release": status.release,
        "release_name": names.get(status.release or ""),
        "healthy": status.healthy,
        "lock": lock,
        "containers": [{"name": n, "release": r, "state": s} for n, r, s in status.containers],
    }


def token(found: tokens.Token) -> dict[str, Any]:
    """An access token as listed (never its secret)."""
    return dataclasses.asdict(found)
