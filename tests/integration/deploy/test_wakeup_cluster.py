"""Two gateway nodes on one PostgreSQL: a change made anywhere wakes long-polls on every node (NOTIFY)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from ..support import SERVE, free_port, new_gateway
from .conftest import Api, LongPoll, composition, new_uuid, record_release, registry_env, wait_until_waiting

WAKE_SECONDS = 1.0


@pytest.fixture
def nodes(tmp_path: Path, database_url: str):
    first = new_gateway(
        tmp_path, SERVE, {**registry_env(), "FLEETGATE_DATABASE_URL": database_url, "FLEETGATE_NODE_ID": "a"}
    )
    second = dataclasses.replace(first, home=tmp_path / "home-b", port=free_port(), keys=first.keys)
    second.home.mkdir()
    second.env = dict(
        first.env,
        FLEETGATE_HOME=str(second.home),
        FLEETGATE_SSH_LISTEN=f"127.0.0.1:{second.port}",
        FLEETGATE_NODE_ID="b",
    )
    apis = []
    try:
        for gw in (first, second):
            gw.start()
            apis.append(Api(gw, gw.http_url()))
        yield apis
    finally:
        for api in apis:
            api.close()
        first.stop()
        second.stop()


# LISTEN/NOTIFY is PostgreSQL's; on SQLite, one node, other processes' changes are polled (test_device_api).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_change_wakes_long_polls_on_both_nodes(nodes: list[Api]) -> None:
    a, b = nodes
    a.gw.cli("user", "add", "alice")
    a.gw.cli("fleet", "create", "alice/spread", "--device-type", "raspberrypi3")
    provisioning = a.provisioning_key("alice/spread")
    record_release(a.gw, "alice/spread", composition("alice/spread"))
    record_release(a.gw, "alice/spread", composition("alice/spread", ("main", "worker")))
    clients = [api.client(api.register(provisioning, "raspberrypi3", new_uuid())) for api in (a, b)]
    for command, expected in (
        (("fleet", "pin", "alice/spread", "alice/spread#1"), "alice/spread#1"),
        (("env", "set", "alice/spread", "COLOUR=blue"), "alice/spread#1"),
    ):
        polls = []
        for client in clients:
            answer = client.get("/v1/device/state")
            polls.append(LongPoll(client, answer.headers["ETag"], wait=60))
        wait_until_waiting(a, 1)
        wait_until_waiting(b, 1)
        b.gw.cli(*command)  # a third process: only NOTIFY reaches the two serve processes
        changed_at = time.monotonic()
        for poll in polls:
            answer = poll.result()
            assert answer.status_code == 200 and answer.json()["release"]["name"] == expected
            assert poll.answered_at - changed_at < WAKE_SECONDS, command
        assert answer.json()["services"]["main"]["environment"].get("COLOUR") == (
            "blue" if command[0] == "env" else None
        )
