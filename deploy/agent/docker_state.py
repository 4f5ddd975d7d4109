"""Docker state: the device's current state as its Docker daemon and lock folders show it.

Nothing of the agent's own memory goes in: after a restart (or a SIGKILL mid-update) the planner
sees exactly what is on the device, which is what makes the agent converge. A container's release is
read from its name (`<service>_<release[:12]>`): a container kept unchanged across releases is
renamed, and Docker labels cannot change after creation.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ..device_state import Container, CurrentState, Image
from .update_locks import held_by_app

MANAGED = "io.fleetgate.managed=1"
HANDOVER_FILES = ("handover-complete", "resin-kill-me")


def _epoch(stamp: str | None) -> float | None:
    if not stamp or stamp.startswith("0001-"):
        return None
    # Docker gives nanoseconds; Python's fromisoformat takes at most microseconds.
    head, _, rest = stamp.rstrip("Z").partition(".")
    fraction = rest[:6].ljust(6, "0") if rest else "0"
    return datetime.fromisoformat(f"{head}.{fraction}+00:00").timestamp()


def _container(api: Any, summary: dict[str, Any]) -> Container:
    labels = summary.get("Labels") or {}
    name = summary["Names"][0].lstrip("/")
    service = labels.get("io.fleetgate.service", "")
    release = name[len(service) + 1 :] if name.startswith(f"{service}_") else ""
    state = api.inspect_container(summary["Id"])["State"]
    return Container(
        id=summary["Id"],
        name=name,
        service=service,
        release=release,
        image=labels.get("io.fleetgate.image", summary.get("Image", "")),
        image_id=summary.get("ImageID", ""),
        config_hash=labels.get("io.fleetgate.config-hash", ""),
        status=state.get("Status", summary.get("State", "")),
        started_at=_epoch(state.get("StartedAt")),
    )


def _files(lock_root: Path, names: tuple[str, ...]) -> tuple[str, ...]:
    if not lock_root.is_dir():
        return ()
    return tuple(
        sorted(d.name for d in lock_root.iterdir() if d.is_dir() and any((d / n).exists() for n in names))
    )


def lock_state(lock_root: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The services holding an update lock, and those whose new container said the hand-over is done."""
    return held_by_app(lock_root), _files(lock_root, HANDOVER_FILES)


def read_current(client: Any, lock_root: Path) -> CurrentState:
    """The current state of the device: managed containers, images, networks, volumes, lock folders."""
    api = client.api
    summaries = api.containers(all=True, filters={"label": MANAGED})
    containers = tuple(_container(api, s) for s in summaries)
    images = tuple(
        Image(i["Id"], tuple((i.get("RepoDigests") or []) + (i.get("RepoTags") or []))) for i in api.images()
    )
    networks = tuple(n["Name"] for n in api.networks(filters={"label": MANAGED}))
    volumes = tuple(v["Name"] for v in (api.volumes().get("Volumes") or []))
    locked, handover_done = lock_state(lock_root)
    return CurrentState(containers, images, networks, volumes, locked, handover_done, time.time())
