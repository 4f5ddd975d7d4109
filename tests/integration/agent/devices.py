"""Simulated devices for the agent's tests: a real `fleetgate agent` process beside its own dockerd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..dockerds import Dockerd

T = TypeVar("T")
AGENT = [sys.executable, "-m", "fleetgate.cli", "agent"]


def until(check: Callable[[], T], timeout: float, what: str, every: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class Device:
    """One device: its daemon, the agent's state dir and (while it runs) the agent process."""

    dockerd: Dockerd
    state_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    argv: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.log"

    def start(self, api: str, key: str | None, device_type: str = "generic-amd64", *extra: str) -> None:
        """Start the agent (in the background; `wait` for it to exit when it should)."""
        self.argv = [*AGENT, "--api", api, "--device-type", device_type, "--state-dir", str(self.state_dir)]
        self.argv += ["--docker-host", self.dockerd.host, *extra]
        self.argv += ["--provisioning-key", key] if key else []
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def restart(self) -> None:
        """Start the agent again with the same arguments."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the agent and wait for it to exit; its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code, self.proc = self.proc.returncode, None
        return code

    @property
    def identity(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "device.json").read_text())

    @property
    def uuid(self) -> str:
        return self.identity["uuid"]

    def containers(self) -> dict[str, str]:
        """The agent's containers: name -> Docker state (running, exited, ...)."""
        out = self.dockerd.cli(
            "ps", "-a", "--filter", "label=io.fleetgate.managed=1", "--format", "{{.Names}} {{.State}}"
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def running(self) -> set[str]:
        """Names of the running managed containers."""
        return {name for name, state in self.containers().items() if state == "running"}

    def runs(self, release: str, services: tuple[str, ...] = ("main",)) -> bool:
        """True when exactly the services of `release` run (and nothing of another release)."""
        return self.running() == {f"{s}_{release[:12]}" for s in services} and len(self.containers()) == len(
            services
        )

    def images(self) -> list[str]:
        """The repository@digest references of the images on the device."""
        out = self.dockerd.cli("images", "--digests", "--format", "{{.Repository}}@{{.Digest}}").stdout
        return sorted(line for line in out.splitlines() if line)

    def events(self, since: float, *filters: str) -> list[dict[str, Any]]:
        """Docker events of the device since `since` (epoch seconds), oldest first."""
        args = ["events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}"]
        args += ["--format", "{{json .}}"]
        for item in filters:
            args += ["--filter", item]
        out = self.dockerd.cli(*args).stdout
        return [json.loads(line) for line in out.splitlines() if line]

    def lock_dir(self, service: str = "main") -> Path:
        return self.state_dir / "locks" / service

    def exec(self, container: str, *command: str) -> str:
        return self.dockerd.cli("exec", container, *command).stdout


def agent_env(home: Path) -> dict[str, str]:
    """The agent's environment: its own FLEETGATE_HOME (the command line loads settings)."""
    return dict(os.environ, FLEETGATE_HOME=str(home))
