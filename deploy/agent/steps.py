"""Steps: the pure planner `steps(current, target)`, balena-supervisor style (DESIGN.md §6).

The plan is everything left to do, in order, as far as the current state lets us know it. The agent
executes the first step and plans again from what Docker then shows, so a restart in the middle of
an update converges from wherever it stopped. Each service is replaced by the update strategy of its
`io.balena.update.strategy` label:

- download-then-kill (default): fetch the new image, kill the old container, start the new one;
- kill-then-download: kill first, then fetch and start (for devices short of memory);
- delete-then-download: kill, remove the old image, then fetch and start (short of disk);
- hand-over: fetch, start the new container beside the old one, and kill the old one when the new
  one writes /tmp/balena/handover-complete (or the legacy /tmp/resin/resin-kill-me) into its lock
  folder, or when `io.balena.update.handover-timeout` has passed since it started.

While any service's lock folder holds updates.lock (and the device's lock override is off), the plan
only downloads what the new release needs and then waits: nothing is stopped, replaced or removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..device_state import Container, CurrentState, ServiceTarget, TargetState

LOCKED = "update locked"
HANDING_OVER = "handing over"


@dataclass(frozen=True)
class CreateNetwork:
    """Create the app network `name` (labelled as the agent's)."""

    name: str


@dataclass(frozen=True)
class CreateVolume:
    """Create the named volume `name`; volumes are kept across releases."""

    name: str


@dataclass(frozen=True)
class Fetch:
    """Pull `image` (by digest) for `service`."""

    service: str
    image: str


@dataclass(frozen=True)
class Kill:
    """Stop and remove the container `name` of `service`."""

    service: str
    name: str


@dataclass(frozen=True)
class RemoveImage:
    """Remove an image no release on the device needs; `reference` names it in logs."""

    image_id: str
    reference: str


@dataclass(frozen=True)
class Create:
    """Create the container `name` for `service` as the target describes it."""

    service: str
    name: str


@dataclass(frozen=True)
class Start:
    """Start the created container `name`."""

    service: str
    name: str


@dataclass(frozen=True)
class Rename:
    """Move an unchanged container to the new release by its name (balena's metadata update)."""

    service: str
    name: str
    new_name: str


@dataclass(frozen=True)
class ClearHandover:
    """Delete the hand-over files of `service`, so the next hand-over waits for a new one."""

    service: str


@dataclass(frozen=True)
class RemoveNetwork:
    """Remove an app network the target no longer has."""

    name: str


@dataclass(frozen=True)
class Wait:
    """Nothing to do until something outside the agent happens (a lock file goes, a hand-over ends)."""

    reason: str
    services: tuple[str, ...]
    until: float | None = None  # epoch seconds when the wait ends by itself


Step = (
    CreateNetwork
    | CreateVolume
    | Fetch
    | Kill
    | RemoveImage
    | Create
    | Start
    | Rename
    | ClearHandover
    | RemoveNetwork
    | Wait
)
# What a held update may still do: downloads and the app's networks and volumes touch no container.
HARMLESS = (Fetch, CreateNetwork, CreateVolume)


def _has_image(current: CurrentState, reference: str) -> bool:
    return any(reference in image.references for image in current.images)


def _handover(service: ServiceTarget, new: Container, olds: list[Container], current: CurrentState) -> list:
    """Kill the old containers once the new one said so or its time is up; wait until then."""
    kills: list[Step] = [Kill(service.name, c.name) for c in olds]
    running = [c for c in olds if c.status in ("running", "restarting")]
    if not running or new.status != "running":
        # A hand-over file left after the old one went (or written again by a restart) is cleared.
        done = service.name in current.handover_done
        return [*kills, *([ClearHandover(service.name)] if done else [])]
    if service.name in current.handover_done:
        return [*kills, ClearHandover(service.name)]
    until = (new.started_at or current.now) + service.handover_timeout
    if current.now >= until:
        return kills
    return [Wait(HANDING_OVER, (service.name,), until), *kills]


def _old_images(
    service: ServiceTarget, olds: list[Container], target: TargetState, current: CurrentState
) -> list[Step]:
    """The service's images nothing else needs (found by repository, so a restart finds them too)."""
    repository = service.image.partition("@")[0]
    needed = {s.image for s in target.services}
    used = {c.image_id for c in current.containers if c not in olds}
    return [
        RemoveImage(i.id, i.references[0])
        for i in current.images
        if any(r.partition("@")[0] == repository for r in i.references)
        and i.id not in used
        and not needed.intersection(i.references)
    ]


def _replace(
    service: ServiceTarget, name: str, olds: list[Container], target: TargetState, current: CurrentState
) -> list[Step]:
    """Steps from the old containers of a service to a new one, by the service's strategy."""
    fetch: list[Step] = [] if _has_image(current, service.image) else [Fetch(service.name, service.image)]
    kills: list[Step] = [Kill(service.name, c.name) for c in olds]
    start: list[Step] = [Create(service.name, name), Start(service.name, name)]
    strategy = service.strategy
    if strategy == "delete-then-download" and fetch:
        return [*kills, *_old_images(service, olds, target, current), *fetch, *start]
    if not olds:
        return [*fetch, *start]
    if strategy == "kill-then-download":
        return [*kills, *fetch, *start]
    running = any(c.status in ("running", "restarting") for c in olds)
    if strategy == "hand-over" and running and all(c.name != name for c in olds):
        clear: list[Step] = [ClearHandover(service.name)] if service.name in current.handover_done else []
        until = current.now + service.handover_timeout
        return [*fetch, *clear, *start, Wait(HANDING_OVER, (service.name,), until), *kills]
    return [*fetch, *kills, *start]


def _service_steps(service: ServiceTarget, target: TargetState, current: CurrentState) -> list[Step]:
    name = f"{service.name}_{target.short_release}"
    mine = [c for c in current.containers if c.service == service.name]
    equal = [c for c in mine if c.config_hash == service.config_hash]
    new = next((c for c in equal if c.name == name), None)
    if new is not None:
        olds = [c for c in mine if c is not new]
        first: list[Step] = [Start(service.name, name)] if new.status == "created" else []
        if service.strategy == "hand-over":
            return [*first, *_handover(service, new, olds, current)]
        return [*first, *(Kill(service.name, c.name) for c in olds)]
    if equal:
        # Unchanged since an earlier release: keep it running under the new release's name.
        kept = equal[0]
        olds = [c for c in mine if c is not kept]
        blocking = [Kill(service.name, c.name) for c in olds if c.name == name]
        rest = [Kill(service.name, c.name) for c in olds if c.name != name]
        started = [Start(service.name, name)] if kept.status == "created" else []
        return [*blocking, Rename(service.name, kept.name, name), *started, *rest]
    return _replace(service, name, mine, target, current)


def _split(plan: list[Step]) -> tuple[list[Step], list[Step]]:
    """The steps before a service's first wait, and the wait with what follows it."""
    for index, step in enumerate(plan):
        if isinstance(step, Wait):
            return plan[:index], plan[index:]
    return plan, []


def _cleanup(target: TargetState, current: CurrentState, plan: list[Step]) -> list[Step]:
    """Remove the fleet's images and networks that nothing left on the device needs."""
    killed = {s.name for s in plan if isinstance(s, Kill)}
    removed = {s.image_id for s in plan if isinstance(s, RemoveImage)}
    used = {c.image_id for c in current.containers if c.name not in killed}
    needed = {s.image for s in target.services}
    prefix = f"{target.fleet_slug}/"
    out: list[Step] = []
    for image in current.images:
        ours = any(ref.partition("/")[2].startswith(prefix) for ref in image.references)
        if ours and image.id not in used | removed and not needed.intersection(image.references):
            out.append(RemoveImage(image.id, image.references[0]))
    out += [RemoveNetwork(n) for n in current.networks if n not in target.networks]
    return out


def _hold(plan: list[Step], current: CurrentState) -> tuple[Step, ...]:
    """Under an update lock: only the downloads that come before any kill of their service."""
    killed: set[str] = set()
    kept: list[Step] = []
    for step in plan:
        if isinstance(step, Kill):
            killed.add(step.service)
        elif isinstance(step, HARMLESS) and not (isinstance(step, Fetch) and step.service in killed):
            kept.append(step)
    return (*kept, Wait(LOCKED, current.locked))


def steps(current: CurrentState, target: TargetState) -> tuple[Step, ...]:
    """Everything left to take the device from `current` to `target`, in order; empty when there."""
    setup: list[Step] = [CreateNetwork(n) for n in target.networks if n not in current.networks]
    setup += [CreateVolume(v) for v in target.volumes if v not in current.volumes]
    services = {s.name for s in target.services}
    before: list[Step] = [Kill(c.service, c.name) for c in current.containers if c.service not in services]
    after: list[Step] = []
    for service in target.services:
        now, later = _split(_service_steps(service, target, current))
        before += now
        after += later
    fetched: set[str] = set()
    plan: list[Step] = []
    for step in [*setup, *before, *after]:
        if isinstance(step, Fetch):
            if step.image in fetched:
                continue  # two services of one image: one pull
            fetched.add(step.image)
        plan.append(step)
    plan += _cleanup(target, current, plan)
    destructive = any(not isinstance(s, (*HARMLESS, Wait)) for s in plan)
    if current.locked and not target.lock_override and destructive:
        return _hold(plan, current)
    return tuple(plan)
