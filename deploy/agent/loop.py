"""The agent's loop: `fleetgate agent` on a device, balena-supervisor style (issue 4, DESIGN.md §2.5).

Register once (device.json in the state dir), then loop: long-poll the target, plan with the pure
`steps(current, target)`, execute the first step, plan again from what Docker shows, report. The last
target is kept on disk, so the agent goes on converging (or just keeps the release running) while the
API is unreachable, and a restart never starts from an empty target (which would stop everything).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from ..device_state import TargetDocumentError, parse_target
from .client import DeviceApi, DeviceApiError
from .container_config import Device
from .docker_state import read_current
from .docker_steps import Context, StepError, execute_unless_locked
from .report import device_report
from .state_reporter import StateReporter
from .steps import Step, Wait, steps

log = logging.getLogger("fleetgate.agent")
BUSY_RECHECK = 5.0  # seconds of steps before looking for a newer target
HOST_PATHS = (
    "/lib/modules",
    "/lib/firmware",
    "/run/dbus",
    "/sys",
    "/proc",
    "/var/log/journal",
    "/etc/machine-id",
)
DOCKER_FAULTS = (docker.errors.DockerException, requests.RequestException, OSError)


class AgentError(RuntimeError):
    """The agent cannot go on; the message says what the operator must do."""


@dataclass(frozen=True)
class AgentOptions:
    """The agent's command-line options (DESIGN.md §3)."""

    api: str
    provisioning_key: str | None
    device_type: str
    state_dir: Path
    docker_host: str | None = None
    name: str | None = None
    ca_cert: str | None = None
    poll_wait: float = 30.0  # seconds a long-poll waits for a new target
    max_backoff: float = 10.0


class Backoff:
    """Exponential delays, reset by a success."""

    def __init__(self, first: float, most: float) -> None:
        self.first, self.most, self.delay = first, most, first

    def next(self) -> float:
        """The delay to wait now; the next one doubles."""
        delay, self.delay = self.delay, min(self.delay * 2, self.most)
        return delay

    def reset(self) -> None:
        """Back to the first delay."""
        self.delay = self.first


def _write(path: Path, value: Any) -> None:
    """Write JSON atomically, readable by the owner only (it holds the device key and credentials)."""
    scratch = path.with_suffix(".tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump(value, file)
    os.replace(scratch, path)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Agent:
    """One device's agent; `run` loops until the process is stopped."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.state_dir = options.state_dir
        self.backoff = Backoff(0.5, options.max_backoff)  # the API's failures
        self.step_backoff = Backoff(1.0, options.max_backoff)  # Docker's and the steps' failures
        self.reporter: StateReporter | None = None
        self._progress: dict[str, int] = {}
        self.api: DeviceApi | None = None

    # --- identity -------------------------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """device.json, registering first when there is none."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "device.json"
        known = _read(path)
        if known and known.get("api_key"):
            return known
        if not self.options.provisioning_key:
            raise AgentError(f"{path} has no device key and no --provisioning-key was given; give one")
        api = DeviceApi(self.options.api, ca_cert=self.options.ca_cert)
        uuid = secrets.token_hex(16)
        while True:
            try:
                answer = api.register(
                    self.options.provisioning_key, uuid, self.options.device_type, self.options.name
                )
                break
            except DeviceApiError as error:
                if type(error) is not DeviceApiError:
                    raise AgentError(str(error)) from None
                log.warning("%s; retrying", error)
                time.sleep(self.backoff.next())
        api.close()
        self.backoff.reset()
        known = {**answer, "api": self.options.api, "uuid": answer.get("uuid", uuid)}
        _write(path, known)
        log.info("registered as %s in %s", known["uuid"], known.get("fleet"))
        return known

    def _send(self, body: dict[str, Any]) -> None:
        if self.reporter is not None:
            self.reporter.report(body)

    # --- the loop -------------------------------------------------------------------------------------
    def run(self) -> None:
        """Register if needed, then converge on the target until stopped."""
        me = self.identity()
        self.api = DeviceApi(me.get("api") or self.options.api, me["api_key"], self.options.ca_cert)
        # Its own connection: httpx clients are not shared between threads here.
        reports = DeviceApi(me.get("api") or self.options.api, me["api_key"], self.options.ca_cert)
        self.reporter = StateReporter(reports.report)
        client = docker.DockerClient(base_url=self.options.docker_host or "unix:///var/run/docker.sock")
        cached = _read(self.state_dir / "target.json") or {}
        document, etag = cached.get("document"), cached.get("etag")
        wait = 0.0
        while True:
            api_failed = False
            try:
                answer = self.api.target(etag if document else None, wait)
                if answer.document is not None:
                    document, etag = answer.document, answer.etag
                    _write(self.state_dir / "target.json", {"document": document, "etag": etag})
            except DeviceApiError as error:
                log.warning("%s; keeping the current target", error)
                api_failed = True
            if document is None:
                time.sleep(self.backoff.next())
                continue
            wait = self.converge(client, me, document)
            if api_failed:
                time.sleep(min(self.backoff.next(), max(wait, 0.5)))
                wait = 0.0
            else:
                self.backoff.reset()

    def _device(self, me: dict[str, Any], document: dict[str, Any]) -> Device:
        facts, fleet = document.get("device") or {}, document.get("fleet") or {}
        host = self.options.docker_host or "unix:///var/run/docker.sock"
        return Device(
            uuid=me["uuid"],
            name=facts.get("name") or me.get("name") or me["uuid"][:7],
            device_type=facts.get("device_type") or self.options.device_type,
            arch=facts.get("arch", ""),
            fleet_id=int(fleet.get("id", 0)),
            fleet_name=fleet.get("name", ""),
            api_url=me.get("api") or self.options.api,
            api_key=me["api_key"],
            lock_root=str((self.state_dir / "locks").absolute()),
            docker_socket=host.removeprefix("unix://") if host.startswith("unix://") else None,
            version=version("fleetgate"),
        )

    def converge(self, client: Any, me: dict[str, Any], document: dict[str, Any]) -> float:
        """Execute steps towards the target for a while; return how long the next long-poll may wait."""
        try:
            target = parse_target(document)
        except TargetDocumentError as error:
            log.error("%s", error)
            return self.options.poll_wait
        device = self._device(me, document)
        running_file = self.state_dir / "release"
        running = running_file.read_text().strip() if running_file.exists() else None
        host_paths = frozenset(p for p in HOST_PATHS if os.path.exists(p))
        started = time.monotonic()
        plan: tuple[Step, ...] = ()
        current = None

        def progress(service: str, percent: int, size: int) -> None:
            self._progress[service] = percent
            if current is not None:
                self._send(device_report(plan, current, target, running, self._progress))

        ctx = Context(client, target, document, device, host_paths, progress)
        while True:
            try:
                current = read_current(client, Path(device.lock_root))
            except DOCKER_FAULTS as error:
                log.error("cannot read the device's Docker state: %s", error)
                return self.step_backoff.next()
            plan = steps(current, target)
            self._send(device_report(plan, current, target, running, self._progress))
            if not plan:
                if running != target.release and target.release:
                    running_file.write_text(target.release)
                    running = target.release
                    log.info("running release %s", target.release)
                self._progress.clear()
                return self.options.poll_wait
            first = plan[0]
            if isinstance(first, Wait):
                return 1.0
            log.info("step: %s", first)
            try:
                if not execute_unless_locked(ctx, first):
                    continue  # the app took its update lock since the plan was made: plan again (it holds)
            except (StepError, *DOCKER_FAULTS) as error:
                log.error("%s", error)
                message = str(error).splitlines()[0][:500]
                self._send(device_report(plan, current, target, running, self._progress, message))
                return self.step_backoff.next()  # the long-poll is the pause: a new target ends it
            self.step_backoff.reset()
            if time.monotonic() - started > BUSY_RECHECK:
                return 0.0
