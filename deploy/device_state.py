"""Device state: what a device should run (the target) and what its Docker shows (the current).

Both are frozen values, so the planner (deploy/agent/steps.py) is a pure function of them. The target
is parsed from the API's target document (contract: GET /v1/device/state); the current is read
from Docker by deploy/agent/docker_state.py. A service's `config_hash` covers everything its container
is made from, so an unchanged service survives a new release (balena's "update metadata": the
container is renamed, not restarted) and a changed variable restarts it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STRATEGIES = ("download-then-kill", "kill-then-download", "delete-then-download", "hand-over")
DEFAULT_STRATEGY = "download-then-kill"
DEFAULT_HANDOVER_MS = 60_000  # balena's default for io.balena.update.handover-timeout
STRATEGY_LABEL = "io.balena.update.strategy"
HANDOVER_LABEL = "io.balena.update.handover-timeout"


class TargetDocumentError(ValueError):
    """The API sent a target document the agent cannot use; the fault is the server's."""


@dataclass(frozen=True)
class ServiceTarget:
    """One service as the target wants it; `spec` is the compose mapping as canonical JSON."""

    name: str
    image: str
    config_hash: str
    strategy: str
    handover_timeout: float  # seconds
    depends_on: tuple[str, ...]
    spec: str
    environment: tuple[tuple[str, str], ...]
    uses_default_network: bool

    @property
    def compose(self) -> dict[str, Any]:
        """The service's compose mapping."""
        return json.loads(self.spec)


@dataclass(frozen=True)
class TargetState:
    """What the device should run: the release, its services, and the app's networks and volumes."""

    release: str | None
    fleet_id: int
    fleet_slug: str
    services: tuple[ServiceTarget, ...]
    networks: tuple[str, ...]  # Docker names, `<fleetid>_<name>`
    volumes: tuple[str, ...]
    lock_override: bool

    def service(self, name: str) -> ServiceTarget | None:
        """The service called `name`, if the target has it."""
        return next((s for s in self.services if s.name == name), None)

    @property
    def short_release(self) -> str:
        """The release as container names carry it (12 characters); empty before the first release."""
        return (self.release or "")[:12]


@dataclass(frozen=True)
class Container:
    """A container the agent manages; `release` is the 12-character release of its name."""

    id: str
    name: str
    service: str
    release: str
    image: str  # the reference it was created from
    image_id: str
    config_hash: str
    status: str  # Docker's: created, running, restarting, exited, paused, dead
    started_at: float | None  # epoch seconds of its last start


@dataclass(frozen=True)
class Image:
    """An image on the device, with the references (repository@digest) it was pulled as."""

    id: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class CurrentState:
    """What Docker and the lock folders show now; `now` is epoch seconds, for hand-over timeouts."""

    containers: tuple[Container, ...]
    images: tuple[Image, ...]
    networks: tuple[str, ...]  # the agent's (labelled) networks
    volumes: tuple[str, ...]
    locked: tuple[str, ...]  # services whose lock folder holds updates.lock
    handover_done: tuple[str, ...]  # services whose lock folder holds handover-complete/resin-kill-me
    now: float


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def network_name(fleet_id: int, name: str) -> str:
    """The Docker name of a composition's network or volume, balena's `<appid>_<name>`."""
    return f"{fleet_id}_{name}"


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TargetDocumentError(f"target document: {where} is not a mapping; the server sent a bad target")
    return value


def labels_of(compose: Mapping[str, Any]) -> dict[str, str]:
    """A compose `labels` value (mapping or list of KEY=value) as a dict."""
    labels = compose.get("labels") or {}
    if isinstance(labels, list):
        return dict(str(item).partition("=")[::2] for item in labels)
    return {str(k): str(v) for k, v in labels.items()}


def label_warnings(composition: Any) -> list[str]:
    """What devices will read otherwise than the release's labels say (balena falls back silently)."""
    services = composition.get("services") if isinstance(composition, Mapping) else None
    warnings = []
    for name, compose in (services or {}).items():
        labels = labels_of(compose) if isinstance(compose, Mapping) else {}
        if labels.get(STRATEGY_LABEL, DEFAULT_STRATEGY) not in STRATEGIES:
            warnings.append(
                f"service {name}: {STRATEGY_LABEL} {labels[STRATEGY_LABEL]!r} is not one of "
                f"{', '.join(STRATEGIES)}; devices will use {DEFAULT_STRATEGY}"
            )
        if _handover_ms(labels) is None:
            warnings.append(
                f"service {name}: {HANDOVER_LABEL} {labels[HANDOVER_LABEL]!r} is not a whole number of "
                f"milliseconds; devices will wait {DEFAULT_HANDOVER_MS // 1000} s"
            )
    return warnings


def _strategy(labels: Mapping[str, str]) -> str:
    value = labels.get(STRATEGY_LABEL, DEFAULT_STRATEGY)
    return value if value in STRATEGIES else DEFAULT_STRATEGY  # balena falls back the same way


def _handover_ms(labels: Mapping[str, str]) -> int | None:
    """The label's milliseconds; None when it is not a whole number (and the default applies)."""
    try:
        return max(0, int(labels.get(HANDOVER_LABEL, str(DEFAULT_HANDOVER_MS))))
    except ValueError:
        return None


def _handover_seconds(labels: Mapping[str, str]) -> float:
    ms = _handover_ms(labels)
    return (DEFAULT_HANDOVER_MS if ms is None else ms) / 1000


def _depends_on(compose: Mapping[str, Any]) -> tuple[str, ...]:
    value = compose.get("depends_on") or ()
    return tuple(sorted(value)) if isinstance(value, (list, Mapping)) else ()


def _service(name: str, body: Any) -> ServiceTarget:
    body = _mapping(body, f"services.{name}")
    compose = dict(_mapping(body.get("compose"), f"services.{name}.compose"))
    image = body.get("image") or compose.get("image")
    if not isinstance(image, str) or not image:
        raise TargetDocumentError(
            f"target document: services.{name} has no image; the server sent a bad target"
        )
    environment = {str(k): str(v) for k, v in _mapping(body.get("environment"), "environment").items()}
    labels = labels_of(compose)
    made_of = {"image": image, "compose": compose, "environment": environment}
    return ServiceTarget(
        name=name,
        image=image,
        config_hash=hashlib.sha256(canonical(made_of).encode()).hexdigest()[:16],
        strategy=_strategy(labels),
        handover_timeout=_handover_seconds(labels),
        depends_on=_depends_on(compose),
        spec=canonical(compose),
        environment=tuple(sorted(environment.items())),
        uses_default_network=not compose.get("network_mode")
        and "default" in (compose.get("networks") or ["default"]),
    )


def _ordered(services: list[ServiceTarget]) -> tuple[ServiceTarget, ...]:
    """Services with their dependencies first (compose's start order), file order otherwise."""
    done: list[ServiceTarget] = []
    by_name = {s.name: s for s in services}

    def visit(service: ServiceTarget, seen: tuple[str, ...]) -> None:
        if service in done or service.name in seen:
            return
        for dependency in service.depends_on:
            if dependency in by_name:
                visit(by_name[dependency], (*seen, service.name))
        done.append(service)

    for service in services:
        visit(service, ())
    return tuple(done)


def parse_target(document: Mapping[str, Any]) -> TargetState:
    """The target state of a target document (the contract's GET /v1/device/state body)."""
    fleet = _mapping(document.get("fleet"), "fleet")
    device = _mapping(document.get("device"), "device")
    release = document.get("release")
    fleet_id = fleet.get("id")
    if not isinstance(fleet_id, int):
        raise TargetDocumentError("target document: fleet.id is missing; the server sent a bad target")
    services = [_service(str(n), b) for n, b in _mapping(document.get("services"), "services").items()]
    networks = [network_name(fleet_id, str(n)) for n in _mapping(document.get("networks"), "networks")]
    volumes = [network_name(fleet_id, str(n)) for n in _mapping(document.get("volumes"), "volumes")]
    if any(s.uses_default_network for s in services):
        networks.append(network_name(fleet_id, "default"))
    return TargetState(
        release=str(_mapping(release, "release").get("hash")) if release else None,
        fleet_id=fleet_id,
        fleet_slug=str(fleet.get("slug", "")),
        services=_ordered(services),
        networks=tuple(sorted(set(networks))),
        volumes=tuple(sorted(volumes)),
        lock_override=bool(device.get("lock_override", False)),
    )
