"""The agent's Docker edge against a real daemon: pull retries, refusals, what a container gets."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest
from fleetgate.deploy.agent import docker_steps
from fleetgate.deploy.agent.container_config import Device
from fleetgate.deploy.agent.docker_state import read_current
from fleetgate.deploy.agent.docker_steps import Context, StepError, execute
from fleetgate.deploy.agent.steps import Create, Fetch, steps
from fleetgate.deploy.device_state import parse_target

from ..dockerds import load_image, start_dockerd, stop_dockerd
from ..support import free_port


def document(image: str, compose: dict) -> dict:
    return {
        "device": {"uuid": "d" * 32, "name": "bench", "device_type": "generic-amd64", "arch": "amd64"},
        "fleet": {"slug": "alice/edge", "name": "edge", "id": 5},
        "release": {"hash": "e" * 32, "name": "alice/edge#1"},
        "services": {"main": {"image": image, "compose": compose, "environment": {"GREETING": "hi"}}},
        "networks": {},
        "volumes": {},
        "registry": None,
    }


@pytest.fixture
def daemon(docker_daemon: None):
    made = start_dockerd(5)
    yield made
    stop_dockerd(made)


def context(daemon, doc: dict, lock_root: Path) -> Context:
    device = Device("d" * 32, "bench", "generic-amd64", "amd64", 5, "edge", "http://api", "key",
                    str(lock_root), None, "0")  # fmt: skip
    return Context(docker.DockerClient(base_url=daemon.host), parse_target(doc), doc, device)


def test_a_failing_pull_is_retried_with_backoff_then_reported_in_one_line(
    daemon, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(docker_steps, "PULL_DELAYS", (0.2, 0.4, 0.8))
    image = f"127.0.0.1:{free_port()}/alice/edge/main@sha256:{'0' * 64}"  # nothing listens there
    ctx = context(daemon, document(image, {}), tmp_path)
    started = time.monotonic()
    with pytest.raises(StepError) as failed:
        execute(ctx, Fetch("main", image))
    assert time.monotonic() - started >= 1.4  # four attempts, three pauses
    message = str(failed.value)
    assert message.startswith(f"cannot pull {image}: ") and message.endswith("; check the registry")
    assert "\n" not in message


def test_a_host_bind_mount_is_refused_and_nothing_is_created(daemon, tmp_path: Path) -> None:
    load_image(daemon, "busybox-fg")
    ctx = context(daemon, document("busybox-fg", {"volumes": ["/etc:/host-etc"]}), tmp_path)
    with pytest.raises(StepError, match="binds a host path, which devices refuse"):
        execute(ctx, Create("main", "main_eeeeeeeeeeee"))
    assert daemon.cli("ps", "-aq").stdout.strip() == ""


def test_the_container_gets_the_composition_and_balena_variables(daemon, tmp_path: Path) -> None:
    load_image(daemon, "busybox-fg")
    compose = {"command": ["sleep", "30"], "restart": "unless-stopped", "cap_add": ["NET_ADMIN"],
               "labels": {"io.balena.features.balena-api": "1"}}  # fmt: skip
    ctx = context(daemon, document("busybox-fg:latest", compose), tmp_path)  # loaded: no pull
    for step in steps(read_current(ctx.client, tmp_path), ctx.target):
        execute(ctx, step)
    made = ctx.client.api.inspect_container("main_eeeeeeeeeeee")
    env = dict(item.split("=", 1) for item in made["Config"]["Env"])
    assert env["GREETING"] == "hi" and env["BALENA_SERVICE_NAME"] == "main" and env["BALENA_API_KEY"] == "key"
    assert made["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert made["HostConfig"]["CapAdd"] == ["NET_ADMIN"]
    assert f"{tmp_path}/main:/tmp/balena" in made["HostConfig"]["Binds"]
    assert made["Config"]["Labels"]["io.fleetgate.service"] == "main"
    assert made["State"]["Running"] and list(made["NetworkSettings"]["Networks"]) == ["5_default"]
    assert steps(read_current(ctx.client, tmp_path), ctx.target) == ()
