"""Build a release: export → resolve → plan → docker build (services in parallel) → publish → composition.

The one function that sequences the build core's I/O, top to bottom (DESIGN.md §2.4, §6.2). It knows
nothing of git or SSH: the caller hands it an object store, a commit and callbacks for output.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from fleetgate.device_types import DeviceType
from fleetgate.ticker import Ticker
from fleetgate.units import duration

from .balena_yml import build_config
from .compose import composition_yaml
from .docker_build import DOCKER_CLI, BuildCancelled, BuildFailed, BuildRequest, BuildResult, run_build
from .export import ExportLimits, export_tree
from .nodejs import NodeSettings
from .plan import Builder, BuildOptions, Placement, ReleaseInput, ServicePlan, plan_services
from .publish import Published, PublishFailed, Registry, keep_local, publish
from .resolve import resolve
from .upload_progress import Uploaded, uploaded_line, uploading_line


@dataclass(frozen=True)
class BuildSettings:
    """The operator's build configuration."""

    builders: tuple[Builder, ...]
    registry: Registry | None
    node: NodeSettings
    scratch: Path
    timeout: float = 3600.0
    idle_timeout: float = 600.0
    export: ExportLimits = ExportLimits()
    docker_cli: str = DOCKER_CLI  # FLEETGATE_DOCKER_CLI, as an absolute path
    progress_interval: float = 4.0  # seconds without a line after which a long step says where it is


@dataclass(frozen=True)
class ReleaseSpec:
    """Which release to build: the fleet, the commit, the release hash and the options."""

    owner: str
    fleet: str
    device: DeviceType
    commit: bytes
    release_hash: str
    options: BuildOptions
    cache_from: Mapping[str, str]
    placement: Placement


@dataclass(frozen=True)
class ServiceImage:
    """One service's built and published image."""

    service: str
    reference: str
    digest: str
    size: int
    seconds: float
    log: str


@dataclass(frozen=True)
class BuiltRelease:
    """Every service's image, the composition that pins them, and where it was built."""

    images: tuple[ServiceImage, ...]
    composition: str
    placement: Placement
    build_seconds: float  # wall time waiting for the builders
    publish_seconds: float  # wall time waiting for the registry


class ServiceFailed(BuildFailed):
    """One service's build failed; carries its name and the logs of every service built so far."""

    def __init__(
        self, message: str, logs: Mapping[str, str], cancelled: bool = False, service: str | None = None
    ) -> None:
        super().__init__(message)
        self.logs = dict(logs)
        self.cancelled = cancelled
        self.service = service


OnLine = Callable[[str, str], None]  # (service, line)


def build_release(
    objects,
    spec: ReleaseSpec,
    settings: BuildSettings,
    on_line: OnLine,
    on_status: Callable[[str], None],
    cancelled: threading.Event,
) -> BuiltRelease:
    """Build and publish every service of `spec.commit`; raise a ValueError or BuildFailed on user faults."""
    settings.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="release-", dir=settings.scratch) as work_dir:
        work = Path(work_dir)
        tree = export_tree(objects, objects[spec.commit].tree, work / "src", settings.export)
        project = resolve(tree.files, spec.device, tree.control_files)
        config = build_config(tree.balena_files, [s.name for s in project.services])
        given = ReleaseInput(spec.fleet, spec.device, spec.release_hash, settings.node)
        plans = plan_services(project, tree.control_files, tree.files, config, given)
        placement = spec.placement
        on_status(_building_line(plans, placement))
        started = time.monotonic()
        results = _build_all(plans, work, spec, settings, placement, on_line, on_status, cancelled)
        built = time.monotonic()
        if settings.registry:
            on_status(f"Uploading images to {settings.registry.host}")
        else:
            on_status("Keeping images in the local daemon")
        images = _publish_all(plans, results, spec, settings, placement, on_status)
        published = time.monotonic()
        composition = composition_yaml(project, {i.service: i.reference for i in images})
    return BuiltRelease(images, composition, placement, built - started, published - built)


def _building_line(plans: tuple[ServicePlan, ...], placement: Placement) -> str:
    names = ", ".join(p.service for p in plans)
    return f"Building {names} on builder '{placement.builder.name}' ({placement.summary})"


def _request(
    plan: ServicePlan, work: Path, spec: ReleaseSpec, settings: BuildSettings, placement: Placement
) -> BuildRequest:
    dockerfile = work / "dockerfiles" / f"{plan.service}.Dockerfile"
    dockerfile.parent.mkdir(exist_ok=True)
    dockerfile.write_text(plan.dockerfile, encoding="utf-8")
    secrets = []
    for secret in plan.secrets:
        path = work / "secrets" / plan.service / secret.dest
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secret.data)
        secrets.append((secret.dest, path))
    cache = (
        ()
        if spec.options.nocache or plan.service not in spec.cache_from
        else (spec.cache_from[plan.service],)
    )
    return BuildRequest(
        service=plan.service,
        context_dir=(work / "src" / plan.context).resolve(),
        dockerfile=str(dockerfile),
        tag=f"fleetgate/{spec.owner}/{spec.fleet}/{plan.service}:{spec.release_hash}",
        build_args=dict(plan.build_args),
        target=plan.target,
        labels=dict(plan.labels),
        secrets=tuple(secrets),
        platform=placement.platform,
        no_cache=spec.options.nocache,
        cache_from=cache,
        timeout=settings.timeout,
        idle_timeout=settings.idle_timeout,
        docker_host=placement.builder.docker_host,
        docker_cli=settings.docker_cli,
    )


def _build_all(
    plans,
    work: Path,
    spec: ReleaseSpec,
    settings: BuildSettings,
    placement: Placement,
    on_line: OnLine,
    on_status: Callable[[str], None],
    cancelled: threading.Event,
) -> dict[str, BuildResult]:
    # One failed service stops the others: the release fails anyway, and builders are shared.
    stop = threading.Event()
    logs: dict[str, str] = {}
    failed: dict[BaseException, str] = {}  # each service's error, to name the service that failed
    started = time.monotonic()

    def still_building() -> str:
        running = [p.service for p in plans if p.service not in logs]
        return f"Still building {', '.join(running)} ({duration(time.monotonic() - started)})"

    # A silent step (a long RUN, a big COPY) says so, every interval, while no build line comes.
    ticker = Ticker(on_status, still_building, settings.progress_interval)

    def said(service: str, line: str) -> None:
        ticker.touch()
        on_line(service, line)

    def one(plan: ServicePlan) -> BuildResult:
        request = _request(plan, work, spec, settings, placement)
        try:
            result = run_build(request, lambda line: said(plan.service, line), stop)
        except BaseException as e:
            failed[e] = plan.service
            if isinstance(e, BuildFailed):
                logs[plan.service] = e.log
            stop.set()
            raise
        logs[plan.service] = result.log
        return result

    with ticker, ThreadPoolExecutor(max(1, len(plans)), thread_name_prefix="build") as pool:
        futures = {p.service: pool.submit(one, p) for p in plans}
        while wait(futures.values(), timeout=0.2).not_done:
            if cancelled.is_set():
                stop.set()
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    if errors:
        # Report the service that failed on its own, not the ones stopped because of it.
        first = next((e for e in errors if not isinstance(e, BuildCancelled)), errors[0])
        if isinstance(first, BuildFailed):
            cancelled_too = isinstance(first, BuildCancelled)
            raise ServiceFailed(str(first), logs, cancelled_too, failed.get(first)) from first
        raise first
    return {name: f.result() for name, f in futures.items()}


def _publish_all(
    plans,
    results: dict[str, BuildResult],
    spec: ReleaseSpec,
    settings: BuildSettings,
    placement: Placement,
    on_status: Callable[[str], None],
) -> tuple[ServiceImage, ...]:
    host = placement.builder.docker_host
    uploads: dict[str, Uploaded] = {p.service: Uploaded() for p in plans}
    started = time.monotonic()

    def one(plan: ServicePlan) -> ServiceImage:
        result = results[plan.service]
        try:
            published = _publish_one(plan, result, spec, settings, host, uploads)
        except PublishFailed as e:
            raise PublishFailed(str(e), service=plan.service) from e
        return ServiceImage(
            plan.service, published.reference, published.digest, published.size, result.seconds, result.log
        )

    def uploading() -> str:
        return uploading_line(dict(uploads), duration(time.monotonic() - started))

    with (
        Ticker(on_status, uploading, settings.progress_interval),
        ThreadPoolExecutor(max(1, len(plans)), thread_name_prefix="publish") as pool,
    ):
        images = tuple(pool.map(one, plans))
    if settings.registry is not None:
        on_status(uploaded_line(uploads, settings.registry.host, duration(time.monotonic() - started)))
    return images


def _publish_one(
    plan: ServicePlan,
    result: BuildResult,
    spec: ReleaseSpec,
    settings: BuildSettings,
    host: str | None,
    uploads: dict[str, Uploaded],
) -> Published:
    if settings.registry is None:
        return keep_local(result.image_id, host)

    def progress(now: Uploaded) -> None:
        uploads[plan.service] = now

    return publish(
        result.image_id,
        settings.registry,
        spec.owner,
        spec.fleet,
        plan.service,
        spec.release_hash,
        host,
        progress,
    )
