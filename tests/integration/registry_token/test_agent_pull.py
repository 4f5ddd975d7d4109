"""A real `fleetgate agent` pulls its release from the token-auth registry with its own credentials."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from ..agent.devices import Device, agent_env, until
from ..support import git
from .conftest import TokenSetup, new_fleet

PROJECTS = Path(__file__).resolve().parents[2] / "projects"


def target(api: str, api_key: str) -> dict:
    request = urllib.request.Request(f"{api}/v1/device/state", headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_an_agent_runs_a_pushed_release_pulled_with_its_own_credentials(
    token_setup: TokenSetup, tmp_path: Path
) -> None:
    setup = token_setup
    gw = setup.gw
    key = new_fleet(setup, "alice/tok-agent")
    work = tmp_path / "work"
    shutil.copytree(PROJECTS / "agent-app", work)
    git("init", "-q", "-b", "master", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "agent app", cwd=work)
    git("push", "-q", gw.url("alice/tok-agent"), "master", cwd=work, key=key, gw=gw)
    release = json.loads(gw.cli("release", "list", "alice/tok-agent", "--json").stdout)[0]["hash"]

    provisioning_key = gw.cli("fleet", "provisioning-key", "alice/tok-agent").stdout.strip()
    api = setup.realm.removesuffix("/v1/registry/token")
    device = Device(setup.device_daemon, tmp_path / "device", agent_env(tmp_path / "agent-home"))
    device.start(api, provisioning_key, "intel-nuc")
    try:
        until(lambda: (device.state_dir / "device.json").exists(), 30, "the agent to register")
        document = target(api, device.identity["api_key"])
        # The device's own credentials, which the token server scopes to its fleet: never the operator's.
        assert document["registry"] == {
            "server": setup.registry,
            "username": device.uuid,
            "password": device.identity["api_key"],
        }
        until(lambda: device.runs(release), 60, f"the agent to run {release[:12]}")
        assert any(image.startswith(f"{setup.registry}/alice/tok-agent/main@") for image in device.images())
    finally:
        device.stop()
        for name in device.containers():
            device.dockerd.cli("rm", "-f", name, check=False)
