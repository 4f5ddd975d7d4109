"""The receive pipeline: ref rules → release → build → verdict; the release ends after the ref moves.

gitd calls `BuildPipeline` once per checked push, before any ref moves (DESIGN.md §2.3), so the push
result always equals the deploy state: a failed build rejects the ref, a success moves master and then
marks the release `success` in one transaction.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from fleetgate.build.plan import BuildOptions, Placement, place
from fleetgate.build.release import BuildSettings, BuiltRelease, ReleaseSpec, ServiceFailed, build_release
from fleetgate.deploy import devices, targets
from fleetgate.deploy.device_state import label_warnings
from fleetgate.deploy.servers.fleet_rollout import RolloutConfig
from fleetgate.gitd.pipeline import Decision, Progress, Push, RefResult, RefUpdate, Verdict

from fleetgate import release_images, releases
from fleetgate.build_logs import LiveLogWriter, live_path
from fleetgate.db import Database
from fleetgate.device_types import device_type
from fleetgate.models import utcnow

from . import server_rollout
from .build_failure import classify
from .device_progress import DeviceProgress, wait_for_devices
from .lease import leased
from .options import OptionRefused, build_options
from .outcome import Landing, build_failed, landed
from .push_output import PushOutput
from .refrules import BranchRule, RefRefused, is_kept, rule_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """The operator's settings the pipeline needs."""

    build: BuildSettings
    node_id: str
    servers: RolloutConfig | None = None  # None: pushes never roll out to servers (tests of git alone)
    device_wait: float = 600.0  # seconds a `-o wait=devices` push streams the devices' progress
    home: Path | None = None  # FLEETGATE_HOME, where live build logs are written; None: none are


class BuildPipeline:
    """Decides a push by building it."""

    def __init__(self, database: Database, config: PipelineConfig) -> None:
        self.database = database
        self.config = config

    def __call__(self, push: Push, progress: Progress, cancelled: threading.Event) -> Decision:
        verdicts, deploy = _sort_updates(push.updates)
        if deploy is None:
            return Decision(tuple(verdicts))
        update, rule = deploy
        try:
            options = build_options(rule, push.options)
        except OptionRefused as e:
            return Decision(tuple(verdicts) + (Verdict.reject(update.ref, str(e)),))
        verdict, after = self._deploy(push, update, rule, options, progress, cancelled)
        return Decision(tuple(verdicts) + (verdict,), after)

    def _deploy(
        self,
        push: Push,
        update: RefUpdate,
        rule: BranchRule,
        options: BuildOptions,
        progress: Progress,
        cancelled: threading.Event,
    ):
        # With -o detach the build outlives the client: it ignores the disconnect.
        stop = threading.Event() if options.detach else cancelled
        device = device_type(push.fleet.device_type)
        placement = place(device, self.config.build.builders, options.emulated)
        release = self._start(push, update, options, placement)
        # Others follow the build from this file (`logs RELEASE -f`); it goes when the build ends.
        live = None if self.config.home is None else LiveLogWriter(live_path(self.config.home, release.hash))
        tee = None if live is None else live.write
        out = PushOutput(progress, options.plain, cancelled, options.detach, tee=tee)
        try:
            return self._build(push, update, rule, options, out, stop, device, placement, release)
        finally:
            if live is not None:
                live.close()

    def _build(
        self,
        push: Push,
        update: RefUpdate,
        rule: BranchRule,
        options: BuildOptions,
        out: PushOutput,
        stop: threading.Event,
        device,
        placement: Placement,
        release: releases.Release,
    ):
        # The release is named before anything is built: a pusher can follow or cite it at once.
        out.info(f"Starting build of release {release.name} for {push.pusher.user}")
        out.info(f"Release: {release.hash} (id: {release.number})")
        started = time.monotonic()
        spec = ReleaseSpec(
            push.fleet.owner,
            push.fleet.name,
            device,
            update.new,
            release.hash,
            options,
            self._cache_from(push.fleet.id),
            placement,
        )
        try:
            with leased(self.database, release):
                built = build_release(push.objects, spec, self.config.build, out.build_line, out.info, stop)
        except Exception as e:  # every failure ends the release and rejects the ref, with its reason
            return Verdict.reject(update.ref, self._failed(release, e, out)), None
        self._record(release, built)
        total = time.monotonic() - started
        out.summary(release, built, total)
        for warning in label_warnings(yaml.safe_load(built.composition)):
            out.warn(warning)
        log.info(
            "release %s built: docker %.3f s, registry %.3f s, total %.3f s",
            release.hash,
            built.build_seconds,
            built.publish_seconds,
            total,
        )
        rolled = self._roll_out(push, release, out)
        if rolled.failed is not None:  # the ref stays; the release's images stay in the registry
            return Verdict.reject(update.ref, rolled.failed.reason), None
        store_as = None if rule.moves == update.ref else rule.moves
        return Verdict.accept(update.ref, store_as), lambda results: self._finish(
            release,
            update,
            results,
            out,
            (options.wait_devices or push.fleet.wait_for_devices) and not options.detach,
            stop,
            rolled.servers,
        )

    def _roll_out(self, push: Push, release: releases.Release, out: PushOutput) -> server_rollout.Rolled:
        """Roll out to the fleet's servers before the ref moves (§2.3)."""
        if self.config.servers is None or not server_rollout.has_servers(self.database, push.fleet.id):
            return server_rollout.Rolled(None)
        with leased(self.database, release):
            rolled = server_rollout.roll_out(
                self.database,
                self.config.servers,
                release.hash,
                push.pusher.user,
                out,
                self.config.build.progress_interval,
            )
        if rolled.failed is not None:
            with self.database.session() as session:
                releases.finish_release(session, release.id, "failed", error=rolled.failed.stored)
        return rolled

    def _rolled_out(self, release: releases.Release) -> bool:
        return self.config.servers is not None and server_rollout.follows_pushes(
            self.database, release.fleet_id
        )

    def _start(
        self, push: Push, update: RefUpdate, options: BuildOptions, placement: Placement
    ) -> releases.Release:
        with self.database.session() as session:
            return releases.start_release(
                session,
                push.fleet.id,
                update.new.decode(),
                update.ref.decode(),
                options.names(),
                options.note,
                push.pusher.user,
                push.pusher.key_fingerprint,
                placement.builder.name,
                placement.platform,
                self.config.node_id,
            )

    def _cache_from(self, fleet_id: int) -> dict[str, str]:
        """The previous release's images, offered as cache (only useful from a registry)."""
        if self.config.build.registry is None:
            return {}
        with self.database.session(readonly=True) as session:
            previous = releases.latest_success(session, fleet_id)
            if previous is None:
                return {}
            return {i.service: i.image for i in release_images.images_of(session, previous.id)}

    def _record(self, release: releases.Release, built: BuiltRelease) -> None:
        with self.database.session() as session:
            for image in built.images:
                release_images.record_image(
                    session,
                    release.id,
                    image.service,
                    image.reference,
                    image.digest,
                    image.size,
                    image.seconds,
                    image.log,
                    "success",
                )
            releases.set_composition(session, release.id, built.composition)

    def _failed(self, release: releases.Release, error: Exception, out: PushOutput) -> str:
        failure = classify(error)
        reference = None
        if not failure.user_fault:
            reference = uuid.uuid4().hex[:8]
            log.error("release %s failed (reference %s)", release.hash, reference, exc_info=error)
        said = build_failed(release.name, failure, reference)
        logs = error.logs if isinstance(error, ServiceFailed) else {}
        with self.database.session() as session:
            for service, text in logs.items():
                release_images.record_image(
                    session, release.id, service, "(not built)", None, None, None, text, "failed"
                )
            releases.finish_release(session, release.id, failure.status, error=said.stored)
        out.say(said)
        return said.reason

    def _finish(
        self,
        release: releases.Release,
        update: RefUpdate,
        results: Sequence[RefResult],
        out: PushOutput,
        wait_devices: bool,
        stop: threading.Event,
        servers: tuple[int, int] | None,
    ) -> None:
        result = next((r for r in results if r.ref == update.ref), None)
        moved = result is not None and result.ok
        with self.database.session() as session:
            if moved:
                target = targets.on_release_success(
                    session, releases.finish_release(session, release.id, "success")
                )
                following = self._following(session, release)
            else:
                reason = result.reason if result is not None else "the ref did not move"
                releases.finish_release(session, release.id, "failed", error=f"ref not updated: {reason}")
        if not moved:
            out.error(f"{release.name} not deployed: master did not move ({reason})")
            if self._rolled_out(release):  # e.g. the pusher's key was revoked during the rollout
                server_rollout.restore(
                    self.database, self.config.servers, release.fleet_id, release.created_by_user, out
                )
            return
        name = target.release.name if target.release else None
        out.say(landed(Landing(release.name, release.fleet, name, target.pinned, servers, following)))
        if wait_devices and target.release is not None and target.release.id == release.id:
            self._wait_for_devices(release, out, stop)

    @staticmethod
    def _following(session, release: releases.Release) -> int:
        """How many of the fleet's devices follow its target (the others are pinned to a release)."""
        return sum(1 for d in devices.list_devices(session, release.fleet_id) if d.pinned_release is None)

    def _wait_for_devices(self, release: releases.Release, out: PushOutput, stop: threading.Event) -> None:
        def read() -> list[DeviceProgress]:
            with self.database.session(readonly=True) as session:
                return [
                    DeviceProgress(d.uuid, d.status, d.release, d.last_seen)
                    for d in devices.list_devices(session, release.fleet_id)
                    if d.pinned_release in (None, release.hash)
                ]

        interval = self.config.build.progress_interval
        wait_for_devices(release.hash, read, out.info, self.config.device_wait, stop, utcnow, interval)


def _sort_updates(updates: Sequence[RefUpdate]) -> tuple[list[Verdict], tuple[RefUpdate, BranchRule] | None]:
    """Keep tags; refuse what is not a deploy branch; at most one deploy branch per push."""
    verdicts: list[Verdict] = []
    deploy = None
    for update in updates:
        if is_kept(update.ref):
            verdicts.append(Verdict.accept(update.ref))
            continue
        try:
            rule = rule_for(update.ref, update.is_delete)
        except RefRefused as e:
            verdicts.append(Verdict.reject(update.ref, str(e)))
            continue
        if deploy is not None:
            verdicts.append(Verdict.reject(update.ref, "push one deploy branch at a time"))
            continue
        deploy = (update, rule)
    return verdicts, deploy
