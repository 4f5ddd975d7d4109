"""The API app in-process on a real database: registry credentials per device, faults as 503."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from fleetgate.deploy import provisioning, targets
from fleetgate.deploy.api.app import ApiConfig, create_app
from fleetgate.deploy.api.target_state import RegistryCredentials

from fleetgate import fleets, releases, users
from fleetgate.db import Database

OPERATOR = RegistryCredentials("registry.example.org:5000", "fleetgate", "operator-secret")
UUID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'api.db'}")
    db.migrate()
    with db.session() as session:
        users.add_user(session, "alice")
        fleets.create_fleet(session, "alice", "web", "raspberrypi3")
    yield db
    db.dispose()


def registered(client: TestClient, database: Database) -> dict[str, str]:
    with database.session() as session:
        key = provisioning.issue_key(session, fleets.get_fleet(session, "alice", "web"))
    answer = client.post(
        "/v1/devices",
        json={"uuid": UUID, "device_type": "raspberrypi3"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['api_key']}"}


@pytest.mark.parametrize(
    ("token_auth", "expected"),
    [
        (False, {"server": OPERATOR.server, "username": "fleetgate", "password": "operator-secret"}),
        (True, {"server": OPERATOR.server, "username": UUID, "password": "<its API key>"}),
    ],
)
def test_with_token_auth_a_device_logs_in_to_the_registry_as_itself(database, token_auth, expected) -> None:
    with TestClient(create_app(database, ApiConfig(OPERATOR, None, token_auth))) as client:
        headers = registered(client, database)
        shown = client.get("/v1/device/state", headers=headers).json()["registry"]
    api_key = headers["Authorization"].removeprefix("Bearer ")
    assert shown == {k: (api_key if v == "<its API key>" else v) for k, v in expected.items()}


def test_a_fault_of_ours_is_a_503_with_a_reference_and_the_traceback_is_logged(database, caplog) -> None:
    with database.session() as session:
        fleet = fleets.get_fleet(session, "alice", "web")
        started = releases.start_release(
            session, fleet.id, "0" * 40, "refs/heads/master", (), None, "alice", "k", "d", "p", "n"
        )
        releases.set_composition(session, started.id, "services: [broken")
        targets.on_release_success(session, releases.finish_release(session, started.id, "success"))
    with TestClient(create_app(database, ApiConfig(OPERATOR)), raise_server_exceptions=False) as client:
        headers = registered(client, database)
        with caplog.at_level(logging.ERROR, logger="fleetgate.deploy.api"):
            answer = client.get("/v1/device/state", headers=headers)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    detail = answer.json()["detail"]
    assert detail.startswith("internal error in fleetgate (reference ") and detail.endswith("); retry later")
    reference = detail.split("reference ")[1].split(")")[0]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
