"""Devices, provisioning keys, device variables and change serials against SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fleetgate.deploy import changes, devices, provisioning, targets, variables
from fleetgate.deploy.api import device_targets
from fleetgate.deploy.api.target_state import RegistryCredentials
from fleetgate.deploy.variables import VariableError

from fleetgate import fleets, releases, users
from fleetgate.db import Database

UUID, OTHER = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPOSITION = """version: '2.1'
services:
  main:
    image: reg/alice/web/main@sha256:00
    environment: {MODE: compose}
  side:
    image: reg/alice/web/side@sha256:01
"""
REGISTRY = RegistryCredentials("reg", "u", "p")


def release(session, fleet_id: int) -> releases.Release:
    started = releases.start_release(
        session, fleet_id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x", "default",
        "linux/arm/v7", "node-a",
    )  # fmt: skip
    releases.set_composition(session, started.id, COMPOSITION)
    ended = releases.finish_release(session, started.id, "success")
    targets.on_release_success(session, ended)
    return ended


@pytest.fixture
def web(database: Database) -> fleets.Fleet:
    with database.session() as session:
        users.add_user(session, "alice")
        fleets.create_fleet(session, "alice", "nuc", "intel-nuc")
        return fleets.create_fleet(session, "alice", "web", "raspberrypi3")


def test_register_authenticate_and_remove(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        key = provisioning.issue_key(session, web)
        device, api_key = devices.register(session, key, UUID.upper(), "raspberrypi3", "pi")
    assert (device.uuid, device.name, device.fleet, device.status) == (UUID, "pi", "alice/web", None)
    with database.session() as session, pytest.raises(devices.DeviceExists):
        devices.register(session, key, UUID, "raspberrypi3")
    with database.session() as session, pytest.raises(devices.UnknownKey):
        devices.register(session, "not-a-key", OTHER, "raspberrypi3")
    with database.session() as session, pytest.raises(provisioning.RegistrationError, match="is amd64"):
        devices.register(session, key, OTHER, "intel-nuc")
    with database.session() as session:
        assert devices.authenticate(session, UUID, api_key) == devices.get_device(session, UUID[:7])
        assert devices.authenticate(session, OTHER, api_key) is None
        assert devices.authenticate(session, UUID, api_key + "x") is None
        seen = devices.by_api_key(session, api_key)
        assert seen is not None and seen.last_seen is not None
        devices.remove(session, UUID)
    with database.session() as session:
        assert devices.authenticate(session, UUID, api_key) is None
        assert devices.list_devices(session, web.id) == []
        again, new_key = devices.register(session, key, UUID, "beaglebone-black")  # a re-flashed device
    assert (again.name, again.device_type, new_key != api_key) == (UUID[:7], "beaglebone-black", True)


def test_reports_pins_and_the_target(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        device, _ = devices.register(session, provisioning.issue_key(session, web), UUID, "raspberrypi3")
        first, second = release(session, web.id), release(session, web.id)
        report = devices.StateReport(
            frozenset({"status", "release", "services"}),
            status="downloading",
            release=first.hash,
            services={"main": {"status": "downloading", "release": second.hash, "progress": 40}},
        )
        devices.report(session, device.id, report)
        devices.report(session, device.id, devices.StateReport(frozenset({"progress"}), progress=40))
    with database.session() as session:
        [listed] = devices.list_devices(session, web.id)
        assert (listed.status, listed.release, listed.progress) == ("downloading", first.hash, 40)
        assert listed.services == {"main": {"status": "downloading", "release": second.hash, "progress": 40}}
        assert devices.target_release(session, listed) == second
        devices.pin(session, UUID, first)
        with pytest.raises(devices.DeviceError, match="only a successful release can be pinned"):
            started = releases.start_release(
                session, web.id, COMMIT, "refs/heads/master", (), None, "alice", "k", "d", "p", "n"
            )
            devices.pin(session, UUID, started)
    with database.session() as session:
        pinned = devices.get_device(session, UUID)
        assert pinned.pinned_release == first.hash
        doc, tag = device_targets.load_target(session, pinned, REGISTRY)
        assert doc["release"] == {"hash": first.hash, "name": "alice/web#1"}
        devices.pin(session, UUID, None)
        assert devices.target_release(session, devices.get_device(session, UUID)) == second


def test_device_variables_beat_service_and_fleet_ones(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        key = provisioning.issue_key(session, web)
        devices.register(session, key, UUID, "raspberrypi3")
        devices.register(session, key, OTHER, "raspberrypi3")
        release(session, web.id)
        variables.set_variable(session, web.id, "MODE", "fleet")
        variables.set_variable(session, web.id, "MODE", "service", service="main")
        variables.set_variable(session, web.id, "MODE", "device", device_uuid=UUID)
        variables.set_variable(session, web.id, "ONLY", "device-main", service="main", device_uuid=UUID)
        variables.set_variable(session, web.id, "A", "1", device_uuid=OTHER[:7])  # a prefix works
        with pytest.raises(VariableError, match="'fedcba' is not a device uuid; name a device by at least 7"):
            variables.set_variable(session, web.id, "A", "1", device_uuid="fedcba")
        with pytest.raises(VariableError, match="no device 0123456f in alice/web; see: fleetgate"):
            variables.set_variable(session, web.id, "A", "1", device_uuid="0123456f")
    with database.session(readonly=True) as session:
        mine = devices.get_device(session, UUID)
        doc, _ = device_targets.load_target(session, mine, REGISTRY)
        assert doc["services"]["main"]["environment"] == {"MODE": "device", "ONLY": "device-main"}
        assert doc["services"]["side"]["environment"] == {"MODE": "device"}
        theirs, _ = device_targets.load_target(session, devices.get_device(session, OTHER), REGISTRY)
        assert theirs["services"]["main"]["environment"] == {"MODE": "service", "A": "1"}
        assert theirs["services"]["side"]["environment"] == {"MODE": "fleet", "A": "1"}
        assert [v.key for v in variables.list_variables(session, web.id, device_uuid=UUID)] == [
            "MODE",
            "ONLY",
        ]
        assert [v.service for v in variables.list_variables(session, web.id)] == [None, "main"]


def test_every_target_change_bumps_the_fleets_serial(database: Database, web: fleets.Fleet) -> None:
    woken: list[int] = []
    changes.add_listener(woken.append)
    try:
        with database.session() as session:
            start = changes.latest_serial(session)
            devices.register(session, provisioning.issue_key(session, web), UUID, "raspberrypi3")
        assert woken == []  # registration changes no target
        with database.session() as session:
            first = release(session, web.id)
            variables.set_variable(session, web.id, "A", "1")
            devices.pin(session, UUID, first)
        with pytest.raises(RuntimeError), database.session() as session:
            variables.set_variable(session, web.id, "B", "1")
            raise RuntimeError("rolled back: nobody is woken")
        with database.session() as session:
            serial, changed = changes.changed_since(session, start)
        assert serial > start and changed == [web.id]
        assert woken == [web.id]  # once per commit, whatever changed in it
    finally:
        changes.remove_listener(woken.append)


def test_serials_that_fall_with_a_removed_fleet_count_as_a_change_of_every_fleet(
    database: Database, web: fleets.Fleet
) -> None:
    with database.session() as session:
        variables.set_variable(session, web.id, "A", "1")
        nuc = fleets.get_fleet(session, "alice", "nuc")
        variables.set_variable(session, nuc.id, "A", "1")
        seen = changes.latest_serial(session)
        fleets.remove_fleet(session, "alice", "nuc")
    with database.session() as session:
        newest, changed = changes.changed_since(session, seen)
        assert (newest < seen, changed) == (True, None)
        variables.set_variable(session, web.id, "A", "2")
    with database.session() as session:
        assert changes.changed_since(session, newest) == (newest + 1, [web.id])
