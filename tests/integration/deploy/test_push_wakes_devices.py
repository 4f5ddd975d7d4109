"""A real push (real git, ssh, BuildKit and the registry with authentication) wakes waiting devices."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..support import git, setup_fleet
from .conftest import Api, LongPoll, wait_until_waiting

PROJECTS = Path(__file__).resolve().parents[2] / "projects"
WAKE_SECONDS = 1.0


def test_a_new_release_reaches_every_waiting_device_at_once(
    api: Api, tmp_path: Path, auth_registry: str
) -> None:
    key = setup_fleet(api.gw, "alice/app", "generic-amd64")
    provisioning = api.provisioning_key("alice/app")
    clients = [api.client(api.register(provisioning, kind)) for kind in ("intel-nuc", "generic-amd64")]
    polls = []
    for client in clients:
        answer = client.get("/v1/device/state")
        assert answer.json()["release"] is None
        polls.append(LongPoll(client, answer.headers["ETag"], wait=300))
    wait_until_waiting(api, len(clients))

    work = tmp_path / "work"
    shutil.copytree(PROJECTS / "dockerfile-plain", work)
    git("init", "-q", "-b", "master", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "first", cwd=work)
    git("push", api.gw.url("alice/app"), "master", cwd=work, key=key, gw=api.gw)
    pushed_at = time.monotonic()

    hashes = set()
    for poll in polls:
        answer = poll.result()
        assert answer.status_code == 200, answer.text
        assert poll.answered_at - pushed_at < WAKE_SECONDS  # answered before the push even ended, usually
        doc = answer.json()
        hashes.add(doc["release"]["hash"])
        assert doc["release"]["name"] == "alice/app#1"
        assert doc["services"]["main"]["image"].startswith(f"{auth_registry}/alice/app/main@sha256:")
        assert doc["services"]["main"]["compose"]["network_mode"] == "host"
        assert doc["registry"] == {
            "server": auth_registry,
            "username": "fleetgate",
            "password": "fleetgate-ci",
        }
    assert len(hashes) == 1
    # Two long-polls each, not a stream of polls: the wait is what took the time.
    counted = api.metrics()["devices"]
    assert sorted(sum(c.values()) for c in counted.values()) == [2, 2]
