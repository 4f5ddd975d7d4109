"""Resolve: which files build which services, by balena's project resolution order (DESIGN.md §2.4)."""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetgate.device_types import DeviceType

from .compose import DEFAULT_SERVICE, DEFAULT_TOP, ComposeService, Composition, parse_compose

COMPOSE_FILES: tuple[str, ...] = ("docker-compose.yml", "docker-compose.yaml")
# The order of preference inside a build context, highest first. balena renders the device-type and
# arch Dockerfiles with the template variables too, so they count as templates.
DOCKERFILE_ORDER: tuple[tuple[str, str], ...] = (
    ("Dockerfile.{device_type}", "template"),
    ("Dockerfile.{arch}", "template"),
    ("Dockerfile.template", "template"),
    ("Dockerfile", "dockerfile"),
    ("package.json", "package.json"),
)
SINGLE_SERVICE = "main"

Source = Literal["dockerfile", "template", "package.json", "image"]


class ResolveError(ValueError):
    """No file says how to build the project (or a service); the message lists what was looked for."""


@dataclass(frozen=True)
class ServiceSpec:
    """How to build one service; paths are relative to the tree root, `dockerfile` None for package.json."""

    name: str
    context: str | None
    dockerfile: str | None
    source: Source
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    compose: Mapping[str, Any] = field(default_factory=dict)

    @property
    def built(self) -> bool:
        """Whether fleetgate builds this service (services with only an `image:` are not built)."""
        return self.source != "image"

    @property
    def dockerfile_in_context(self) -> str | None:
        """The Dockerfile relative to the build context, as `docker build -f` takes it."""
        if self.dockerfile is None or self.context is None:
            return None
        return posixpath.relpath(self.dockerfile, self.context)


@dataclass(frozen=True)
class Project:
    """A resolved project: one service (`single`) or a compose file's services, and its top-level keys."""

    kind: Literal["compose", "single"]
    services: tuple[ServiceSpec, ...]
    compose: Mapping[str, Any] = field(default_factory=dict)


def candidates(device: DeviceType) -> tuple[tuple[str, str], ...]:
    """The file names looked for in a build context, in order, with the source each one means."""
    return tuple(
        (name.format(device_type=device.slug, arch=device.arch), src) for name, src in DOCKERFILE_ORDER
    )


def resolve_context(
    paths: Set[str], context: str, device: DeviceType, where: str = "", also: tuple[str, ...] = ()
) -> tuple[str, str]:
    """Return (path, source) of the file that builds the context `context`, by the resolution order."""
    looked = candidates(device)
    for name, source in looked:
        path = posixpath.normpath(posixpath.join(context, name))
        if path in paths:
            return path, source
    folder = "the project root" if context == "." else f"{context}/"
    names = ", ".join((*also, *(name for name, _ in looked)))
    raise ResolveError(f"{where}nothing to build in {folder}: looked for {names}")


def _named_source(dockerfile: str) -> Source:
    return "template" if dockerfile.endswith(".template") else "dockerfile"


def _compose_service(
    paths: Set[str], service: ComposeService, device: DeviceType, filename: str
) -> ServiceSpec:
    if service.context is None:
        return ServiceSpec(service.name, None, None, "image", compose=service.rest)
    where = f"{filename}: service {service.name}: "
    if service.dockerfile is not None:
        if service.dockerfile not in paths:
            raise ResolveError(f"{where}dockerfile {service.dockerfile} is not in the project; commit it")
        path, source = service.dockerfile, _named_source(service.dockerfile)
    else:
        path, source = resolve_context(paths, service.context, device, where)
    dockerfile = None if source == "package.json" else path
    return ServiceSpec(
        service.name, service.context, dockerfile, source, service.args, service.target, service.labels,
        service.rest,
    )  # fmt: skip


def _compose_project(paths: Set[str], composition: Composition, device: DeviceType, filename: str) -> Project:
    services = tuple(_compose_service(paths, s, device, filename) for s in composition.services)
    return Project("compose", services, composition.top)


def resolve(paths: Set[str], device: DeviceType, control_files: Mapping[str, bytes]) -> Project:
    """Resolve the project in a tree of `paths`; `control_files` holds the compose file's bytes."""
    for filename in COMPOSE_FILES:
        if filename in paths:
            if filename not in control_files:
                raise ResolveError(f"{filename}: could not be read; commit it as a regular file")
            return _compose_project(paths, parse_compose(control_files[filename], filename), device, filename)
    path, source = resolve_context(paths, ".", device, also=COMPOSE_FILES)
    dockerfile = None if source == "package.json" else path
    main = ServiceSpec(SINGLE_SERVICE, ".", dockerfile, source, compose=copy.deepcopy(dict(DEFAULT_SERVICE)))
    return Project("single", (main,), copy.deepcopy(dict(DEFAULT_TOP)))
