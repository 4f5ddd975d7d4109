"""The build plan: from a resolved project to exactly what each service's `docker build` gets (pure)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from fleetgate.device_types import PLATFORMS, DeviceType

from .balena_yml import BuildConfig, Secret
from .nodejs import NodeSettings, implicit_dockerfile
from .render import RenderContext, check_dockerfile, render_template
from .resolve import Project, ServiceSpec

# Fleets of these arches have no native builder anywhere: they always build under qemu.
ALWAYS_EMULATED = frozenset({"i386", "rpi"})


@dataclass(frozen=True)
class BuildOptions:
    """What the pushed branch and push options ask of the build (DESIGN.md §2.3)."""

    nocache: bool = False
    emulated: bool = False
    detach: bool = False
    plain: bool = False
    note: str | None = None
    wait_devices: bool = False  # not a build option: the push waits for the devices after the build

    def names(self) -> tuple[str, ...]:
        """The options that are on, as recorded on the release."""
        return tuple(n for n in ("nocache", "emulated", "detach", "plain") if getattr(self, n))


@dataclass(frozen=True)
class Builder:
    """A Docker endpoint that builds, and the arches it builds natively."""

    name: str
    docker_host: str | None
    arches: frozenset[str]


@dataclass(frozen=True)
class Placement:
    """Which builder builds a release, for which platform, and whether that builder emulates it (qemu)."""

    builder: Builder
    platform: str
    emulated: bool

    @property
    def summary(self) -> str:
        """`linux/arm/v7, emulated`: what the pusher and the operator are told."""
        return f"{self.platform}, {'emulated' if self.emulated else 'native'}"


@dataclass(frozen=True)
class ServicePlan:
    """One service's build: context folder (relative to the tree), final Dockerfile text, args, secrets."""

    service: str
    context: str
    dockerfile: str
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class ReleaseInput:
    """What a plan is made from, besides the project: the fleet, the release and the node image."""

    app_name: str
    device: DeviceType
    release_hash: str
    node: NodeSettings


def place(device: DeviceType, builders: tuple[Builder, ...], emulated: bool) -> Placement:
    """A native builder for the fleet's arch when there is one and emulation is not asked; else qemu.

    The platform is always the fleet's, so the image's config records the arch the devices run.
    """
    platform = PLATFORMS[device.arch]
    if not emulated and device.arch not in ALWAYS_EMULATED:
        for builder in builders:
            if device.arch in builder.arches:
                return Placement(builder, platform, emulated=False)
    x86 = next((b for b in builders if "amd64" in b.arches), builders[0])
    return Placement(x86, platform, emulated=True)


def dockerfile_text(
    spec: ServiceSpec, files: Mapping[str, bytes], paths: AbstractSet[str], given: ReleaseInput
) -> str:
    """The Dockerfile a service builds with: as committed, rendered from a template, or implicit."""
    if spec.source == "package.json":
        context = spec.context or "."
        package = posixpath.normpath(posixpath.join(context, "package.json"))
        lock = posixpath.normpath(posixpath.join(context, "package-lock.json"))
        text = implicit_dockerfile(files[package], given.device, given.node, has_lock=lock in paths)
    else:
        assert spec.dockerfile is not None
        text = files[spec.dockerfile].decode("utf-8", "replace")
        if spec.source == "template":
            ctx = RenderContext(
                given.app_name, given.device.arch, given.device.slug, given.release_hash, spec.name
            )
            text = render_template(text, ctx, spec.dockerfile)
    check_dockerfile(text, spec.dockerfile or "the implicit Dockerfile")
    return text


def plan_services(
    project: Project,
    files: Mapping[str, bytes],
    paths: AbstractSet[str],
    config: BuildConfig,
    given: ReleaseInput,
) -> tuple[ServicePlan, ...]:
    """Every built service's plan; build-variables from balena.yml give way to the compose file's args."""
    plans = []
    for spec in project.services:
        if not spec.built:
            continue
        args = {**config.variables.get(spec.name, {}), **spec.build_args}
        plans.append(
            ServicePlan(
                service=spec.name,
                context=spec.context or ".",
                dockerfile=dockerfile_text(spec, files, paths, given),
                build_args=args,
                target=spec.target,
                labels=dict(spec.labels),
                secrets=config.secrets.get(spec.name, ()),
            )
        )
    return tuple(plans)
