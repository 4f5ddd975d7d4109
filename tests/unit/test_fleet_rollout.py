"""A release and a fleet's servers as the rollout engine's input: environment and services per server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fleetgate.deploy.servers.fleet_rollout import FleetRolloutError, compose_environment, server_targets
from fleetgate.deploy.servers.inventory import Address, Server
from fleetgate.deploy.servers.rollout import HostResult, RolloutResult, ServerTarget

KNOWN = Path("/home/fg/known_hosts")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SERVICES = {
    "web": {"image": "r/web", "labels": {"io.fleetgate.role": "web", "io.fleetgate.proxy.port": "8000"}},
    "jobs": {"image": "r/jobs", "labels": {"io.fleetgate.role": "worker"}},
    "cache": {"image": "r/cache"},
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {}),
        ({"environment": None}, {}),
        ({"environment": {"A": "1", "B": 2, "C": None}}, {"A": "1", "B": "2", "C": ""}),
        ({"environment": ["A=1", "B=x=y", "C="]}, {"A": "1", "B": "x=y", "C": ""}),
    ],
)
def test_compose_environment(body: dict, expected: dict[str, str]) -> None:
    assert compose_environment(body) == expected


def server(host: str, role: str | None, key: str | None = None, port: int = 22) -> Server:
    return Server(1, 1, Address("deploy", host, port), role, key, T0)


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        (
            [server("10.0.0.5", "web", "/keys/id"), server("10.0.0.6", None, port=2222)],
            [
                ServerTarget("10.0.0.5", 22, "deploy", Path("/keys/id"), "web", KNOWN, ("web", "cache")),
                ServerTarget("10.0.0.6", 2222, "deploy", None, None, KNOWN, ("web", "jobs", "cache")),
            ],
        ),
        (
            [server("10.0.0.7", "worker")],
            [ServerTarget("10.0.0.7", 22, "deploy", None, "worker", KNOWN, ("jobs", "cache"))],
        ),
        ([], []),
    ],
)
def test_services_per_server(listed: list[Server], expected: list[ServerTarget]) -> None:
    assert list(server_targets(listed, SERVICES, KNOWN, "alice/web#3")) == expected


def test_a_role_without_services_is_refused() -> None:
    only_web = {"web": SERVICES["web"]}
    with pytest.raises(FleetRolloutError) as raised:
        server_targets([server("10.0.0.5", "worker")], only_web, KNOWN, "alice/web#3")
    assert str(raised.value) == (
        "server 10.0.0.5 has role worker but no service of alice/web#3 is labelled "
        "io.fleetgate.role=worker; label one or change the server's role"
    )


@pytest.mark.parametrize(("auth", "user"), [("basic", "fleetgate"), ("token", "rollout/alice/web")])
def test_a_rollout_pulls_with_a_fleet_credential_under_token_auth(
    tmp_path: Path, auth: str, user: str
) -> None:
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    from fleetgate.settings import load

    settings = load(
        {
            "FLEETGATE_HOME": str(tmp_path),
            "FLEETGATE_REGISTRY": "127.0.0.1:5002",
            "FLEETGATE_REGISTRY_USER": "fleetgate",
            "FLEETGATE_REGISTRY_PASSWORD": "operator-secret",
            "FLEETGATE_REGISTRY_AUTH": auth,
        }
    )
    config = RolloutConfig.from_settings(settings)
    assert config.registry_for is not None
    server, got_user, password = config.registry_for("alice/web")
    assert (server, got_user) == ("127.0.0.1:5002", user)
    assert (password == "operator-secret") is (auth == "basic")


def test_the_rollout_timings_come_from_the_environment(tmp_path: Path) -> None:
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    from fleetgate.settings import load

    base = {"FLEETGATE_HOME": str(tmp_path)}
    default = RolloutConfig.from_settings(load(base)).options
    assert (default.health_timeout, default.drain_timeout, default.readiness_delay) == (60, 30, 7)
    env = {
        **base,
        "FLEETGATE_HEALTH_TIMEOUT": "5",
        "FLEETGATE_DRAIN_TIMEOUT": "3",
        "FLEETGATE_READINESS_DELAY": "0",
    }
    options = RolloutConfig.from_settings(load(env)).options
    assert (options.health_timeout, options.drain_timeout, options.readiness_delay) == (5, 3, 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FLEETGATE_READINESS_DELAY", "-1", "FLEETGATE_READINESS_DELAY must be 0 or more seconds"),
        ("FLEETGATE_DRAIN_TIMEOUT", "-5", "FLEETGATE_READINESS_DELAY must be 0 or more seconds"),
        ("FLEETGATE_HEALTH_TIMEOUT", "0", "must be whole numbers of at least 1"),
        ("FLEETGATE_READINESS_DELAY", "soon", "FLEETGATE_READINESS_DELAY='soon' is not a whole number"),
    ],
)
def test_rollout_timings_out_of_range_are_refused(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    from fleetgate.settings import SettingsError, load

    with pytest.raises(SettingsError, match=message):
        load({"FLEETGATE_HOME": str(tmp_path), name: value})


@pytest.mark.parametrize(
    ("result", "failure"),
    [
        (RolloutResult(True, None, ()), ""),
        (
            RolloutResult(
                False, "rollout failed on h1: container x is unhealthy", (HostResult("h1", "failed", 1.0),)
            ),
            "rollout failed on h1: container x is unhealthy",
        ),
        (RolloutResult(False, "service worker: bad value", ()), "rollout failed: service worker: bad value"),
        (RolloutResult(False, None, ()), "rollout failed: see the lines above"),
    ],
)
def test_a_failed_rollout_says_so_once(result: RolloutResult, failure: str) -> None:
    assert result.failure == failure
