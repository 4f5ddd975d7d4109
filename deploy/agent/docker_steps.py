"""Docker steps: one planned step (deploy/agent/steps.py) executed against the device's Docker daemon.

Each function does one step and returns; the agent plans again from what Docker then shows, so a
step that fails half-way is simply planned again. Pulls retry with backoff, since a device's network
comes and goes; pull progress is counted by bytes of the layers Docker reports.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from ..device_state import TargetState
from . import update_locks
from .container_config import ComposeServiceError, Device, container_config
from .docker_state import HANDOVER_FILES
from .steps import (
    ClearHandover,
    Create,
    CreateNetwork,
    CreateVolume,
    Fetch,
    Kill,
    RemoveImage,
    RemoveNetwork,
    Rename,
    Start,
    Step,
    Wait,
)

log = logging.getLogger("fleetgate.agent")
MANAGED_LABELS = {"io.fleetgate.managed": "1"}
PULL_DELAYS = (0.5, 1.0, 2.0, 4.0)  # seconds before each retry of a failed pull
STOP_TIMEOUT = 10


class StepError(RuntimeError):
    """A step failed; the message says which and why (the agent reports it and plans again)."""


@dataclass(frozen=True)
class Context:
    """What executing a step needs besides the step: the daemon, the target and who we are."""

    client: Any
    target: TargetState
    document: Mapping[str, Any]
    device: Device
    host_paths: frozenset[str] = frozenset()
    on_progress: Callable[[str, int, int], None] = field(default=lambda service, percent, size: None)

    @property
    def lock_root(self) -> Path:
        return Path(self.device.lock_root)


def _auth(ctx: Context, image: str) -> dict[str, str] | None:
    registry = ctx.document.get("registry") or {}
    if registry.get("server") and image.startswith(f"{registry['server']}/") and registry.get("username"):
        return {"username": registry["username"], "password": registry.get("password") or ""}
    return None


def _pull_once(ctx: Context, step: Fetch) -> int:
    """Pull by digest, reporting progress; return the bytes of the layers that were downloaded."""
    repository, _, digest = step.image.partition("@")
    layers: dict[str, tuple[int, int]] = {}
    last = -1
    stream = ctx.client.api.pull(
        repository, tag=digest, stream=True, decode=True, auth_config=_auth(ctx, step.image)
    )
    for event in stream:
        if "error" in event:
            raise StepError(f"pull of {step.image} failed: {event['error']}")
        layer, status, detail = event.get("id"), event.get("status", ""), event.get("progressDetail") or {}
        if not layer or layer == digest:
            continue
        if status == "Downloading" and detail.get("total"):
            layers[layer] = (detail.get("current", 0), detail["total"])
        elif status in ("Download complete", "Pull complete", "Extracting") and layer in layers:
            layers[layer] = (layers[layer][1], layers[layer][1])
        total = sum(t for _, t in layers.values())
        percent = int(100 * sum(c for c, _ in layers.values()) / total) if total else 0
        if percent != last:
            last = percent
            ctx.on_progress(step.service, percent, total)
    size = sum(t for _, t in layers.values())
    ctx.on_progress(step.service, 100, size)
    log.info("pulled %s: %d bytes in %d layers", step.image, size, len(layers))
    return size


def fetch(ctx: Context, step: Fetch) -> int:
    """Pull the image, retrying with backoff; a StepError when every attempt failed."""
    error: Exception | None = None
    for delay in (0.0, *PULL_DELAYS):
        time.sleep(delay)
        try:
            return _pull_once(ctx, step)
        except (docker.errors.APIError, StepError, OSError) as e:
            error = e
            log.warning("pull of %s failed (%s); retrying", step.image, str(e).splitlines()[0][:200])
    raise StepError(f"cannot pull {step.image}: {str(error).splitlines()[0][:300]}; check the registry")


def grace_period(value: object) -> int:
    """Compose's `stop_grace_period` (`10`, `10s`, `1m30s`) in whole seconds; Docker's 10 otherwise."""
    found = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s?)?", str(value or "").strip())
    if not value or not found or not any(found.groups()):
        return STOP_TIMEOUT
    return int(found.group(1) or 0) * 60 + int(found.group(2) or 0)


def kill(ctx: Context, step: Kill) -> None:
    """Stop (with the service's grace period) and remove the container; gone already is fine."""
    api = ctx.client.api
    service = ctx.target.service(step.service)
    timeout = grace_period(service.compose.get("stop_grace_period") if service else None)
    try:
        api.stop(step.name, timeout=timeout)
        api.remove_container(step.name, v=False)
    except docker.errors.NotFound:
        pass


def create(ctx: Context, step: Create) -> None:
    """Create the container as docker-compose would, with its lock folder made first."""
    service = ctx.target.service(step.service)
    if service is None:
        raise StepError(f"service {step.service} is not in the target")
    (ctx.lock_root / step.service).mkdir(parents=True, exist_ok=True)
    try:
        config = container_config(service, ctx.target, ctx.device, step.name, ctx.host_paths)
    except ComposeServiceError as e:
        raise StepError(f"service {step.service} of release {ctx.target.release}: {e}") from None
    try:
        ctx.client.containers.create(**config.create)
        for network, aliases in config.networks:
            ctx.client.api.connect_container_to_network(step.name, network, aliases=list(aliases))
    except docker.errors.APIError as e:
        raise StepError(f"cannot create {step.name}: {e.explanation or e}") from None


def _top_spec(ctx: Context, kind: str, name: str) -> Mapping[str, Any]:
    short = name.partition("_")[2]
    return (ctx.document.get(kind) or {}).get(short) or {}


def create_network(ctx: Context, step: CreateNetwork) -> None:
    """Create an app network with the composition's driver and options."""
    spec = _top_spec(ctx, "networks", step.name)
    ctx.client.networks.create(
        step.name,
        driver=spec.get("driver", "bridge"),
        options=spec.get("driver_opts") or None,
        internal=bool(spec.get("internal", False)),
        labels=MANAGED_LABELS,
    )


def create_volume(ctx: Context, step: CreateVolume) -> None:
    """Create a named volume (kept across releases: nothing removes it)."""
    spec = _top_spec(ctx, "volumes", step.name)
    ctx.client.volumes.create(
        step.name,
        driver=spec.get("driver", "local"),
        driver_opts=spec.get("driver_opts"),
        labels=MANAGED_LABELS,
    )


def clear_handover(ctx: Context, step: ClearHandover) -> None:
    """Delete the service's hand-over files."""
    for name in HANDOVER_FILES:
        (ctx.lock_root / step.service / name).unlink(missing_ok=True)


def remove_image(ctx: Context, step: RemoveImage) -> None:
    """Remove an image nothing needs (forced: it may carry several repository digests)."""
    with contextlib.suppress(docker.errors.NotFound):
        ctx.client.api.remove_image(step.image_id, force=True)
    log.info("removed image %s", step.reference)


def execute_unless_locked(ctx: Context, step: Step) -> bool:
    """Execute a step; a Kill only while the agent holds every update lock. False: the app holds one."""
    if not isinstance(step, Kill) or ctx.target.lock_override:
        execute(ctx, step)
        return True
    with update_locks.taken(ctx.lock_root) as free:
        if free:
            execute(ctx, step)
        return free


def execute(ctx: Context, step: Step) -> None:
    """Execute one step (a Wait is the agent's to do)."""
    api = ctx.client.api
    try:
        if isinstance(step, Fetch):
            fetch(ctx, step)
        elif isinstance(step, Kill):
            kill(ctx, step)
        elif isinstance(step, Create):
            create(ctx, step)
        elif isinstance(step, Start):
            api.start(step.name)
        elif isinstance(step, Rename):
            api.rename(step.name, step.new_name)
        elif isinstance(step, RemoveImage):
            remove_image(ctx, step)
        elif isinstance(step, ClearHandover):
            clear_handover(ctx, step)
        elif isinstance(step, CreateNetwork):
            create_network(ctx, step)
        elif isinstance(step, CreateVolume):
            create_volume(ctx, step)
        elif isinstance(step, RemoveNetwork):
            api.remove_network(step.name)
        elif not isinstance(step, Wait):
            raise StepError(f"unknown step {step!r}")
    except docker.errors.APIError as e:
        raise StepError(f"{type(step).__name__} {step}: {e.explanation or e}") from None
