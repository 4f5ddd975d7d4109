"""The rollout engine's input read from real databases, SQLite and PostgreSQL (issue 5)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fleetgate.deploy import targets, variables
from fleetgate.deploy.servers import fleet_rollout
from fleetgate.deploy.servers import inventory as servers
from fleetgate.deploy.servers.fleet_rollout import FleetRolloutError, RolloutConfig
from fleetgate.deploy.servers.inventory import Address, Proxy
from fleetgate.deploy.servers.rollout import RolloutOptions

from fleetgate import fleets, releases, users
from fleetgate.db import Database

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPOSITION = """\
version: '2.1'
services:
  web:
    image: reg/alice/web/web@sha256:00
    environment: [MODE=compose, KEEP=yes]
    labels: {io.fleetgate.role: web, io.fleetgate.proxy.port: '8000'}
  jobs:
    image: reg/alice/web/jobs@sha256:01
    labels: {io.fleetgate.role: worker}
"""
NO_REGISTRY = RolloutConfig(None, False, Path("/k"), RolloutOptions(), 5)
CONFIG = RolloutConfig(("reg", "fleetgate", "pw"), True, Path("/fg/known_hosts"), RolloutOptions(), 2)


def release(session, fleet_id: int, status: str = "success") -> releases.Release:
    started = releases.start_release(
        session, fleet_id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x", "default",
        "linux/amd64", "node-a",
    )  # fmt: skip
    releases.set_composition(session, started.id, COMPOSITION)
    ended = releases.finish_release(session, started.id, status)
    if status == "success":
        targets.on_release_success(session, ended)
    return ended


@pytest.fixture
def web(database: Database) -> fleets.Fleet:
    with database.session() as session:
        users.add_user(session, "alice")
        return fleets.create_fleet(session, "alice", "web", "generic-amd64")


def test_services_environment_registry_and_proxy(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        servers.add_server(session, web, Address("deploy", "10.0.0.5"), "web", "/keys/id")
        servers.add_server(session, web, Address("deploy", "10.0.0.6", 2222))
        servers.set_proxy(session, web.id, Proxy("app.example.org", "/tls/cert.pem", "/tls/key.pem"))
        variables.set_variable(session, web.id, "MODE", "operator")
        variables.set_variable(session, web.id, "TOKEN", "s3cret", service="web", secret=True)
        first = release(session, web.id)
        given, hosts = fleet_rollout.prepare(session, web, first, CONFIG)
    assert (given.fleet_slug, given.release_hash, given.release_name) == (
        "alice/web",
        first.hash,
        "alice/web#1",
    )
    assert given.environment == {
        "web": {"MODE": "operator", "KEEP": "yes", "TOKEN": "s3cret"},  # fleetgate env beats compose
        "jobs": {"MODE": "operator"},
    }
    assert given.composition["services"]["jobs"]["image"] == "reg/alice/web/jobs@sha256:01"
    assert (given.registry, given.proxy_host) == (("reg", "fleetgate", "pw"), "app.example.org")
    assert (given.tls_cert, given.tls_key) == (Path("/tls/cert.pem"), Path("/tls/key.pem"))
    assert [(h.endpoint, h.services, h.key_path) for h in hosts] == [
        ("10.0.0.5", ("web",), Path("/keys/id")),
        ("10.0.0.6:2222", ("web", "jobs"), None),
    ]
    assert {h.known_hosts for h in hosts} == {Path("/fg/known_hosts")}


def test_each_host_keeps_the_fleets_retention_with_the_new_release_counted(
    database: Database, web: fleets.Fleet
) -> None:
    with database.session() as session:
        servers.add_server(session, web, Address("deploy", "10.0.0.5"))
        made = [release(session, web.id) for _ in range(4)]
        failed = release(session, web.id, "failed")  # never a target: its images go first
        given, _ = fleet_rollout.prepare(session, web, made[3], CONFIG)
        # keep=2: the release rolled out (#4, the target) and the one a rollback goes back to (#3).
        assert given.retention is not None
        assert given.retention.kept == (made[3].hash, made[2].hash)
        assert given.retention.dropped == (failed.hash, made[0].hash, made[1].hash)
        # Rolling back to #1: the target #4 stays (a host that fails switches back to it), and #1 is kept;
        # #1 will be the target and had none before it to go back to.
        rolling, _ = fleet_rollout.prepare(session, web, made[0], replace(CONFIG, keep=1))
        assert rolling.retention is not None and rolling.retention.kept == (made[3].hash, made[0].hash)
        targets.rollback(session, web, made[0])
        back, _ = fleet_rollout.prepare(session, web, made[0], CONFIG)
        assert back.retention is not None and back.retention.kept == (made[3].hash, made[0].hash)
        off, _ = fleet_rollout.prepare(session, web, made[0], replace(CONFIG, keep=None))
        assert off.retention is None  # FLEETGATE_RELEASES_KEPT=off: hosts prune nothing


@pytest.mark.parametrize(
    ("config", "with_server", "message"),
    [
        (
            RolloutConfig(None, False, Path("/k"), RolloutOptions(), 5),
            True,
            "server rollouts pull images from",
        ),
        (CONFIG, False, "alice/web has no servers; add one: fleetgate server add alice/web ssh://USER@HOST"),
    ],
)
def test_refusals(
    database: Database, web: fleets.Fleet, config: RolloutConfig, with_server: bool, message: str
) -> None:
    with database.session() as session:
        if with_server:
            servers.add_server(session, web, Address("deploy", "10.0.0.5"))
        first = release(session, web.id)
        with pytest.raises(FleetRolloutError, match=message):
            fleet_rollout.prepare(session, web, first, config)
