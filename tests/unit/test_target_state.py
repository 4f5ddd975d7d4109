"""The target document and its ETag: a pure function of device, fleet, release, variables, registry."""

from __future__ import annotations

import pytest
from fleetgate.deploy.api.target_state import (
    CompositionError,
    DeviceFacts,
    FleetFacts,
    RegistryCredentials,
    ReleaseFacts,
    compose_environment,
    etag,
    target_document,
)

DEVICE = DeviceFacts("a" * 32, "pi", "raspberrypi3", False)
FLEET = FleetFacts(3, "alice/demo", "demo")
REGISTRY = RegistryCredentials("127.0.0.1:5001", "fleetgate", "secret")
COMPOSITION = """version: '2.1'
networks: {backend: {}}
volumes: {resin-data: {}}
services:
  main:
    image: 127.0.0.1:5001/alice/demo/main@sha256:11
    privileged: true
    environment: [MODE=fleet-default, PORT=80, FROM_SHELL]
    labels: {io.balena.update.strategy: hand-over}
  worker:
    image: 127.0.0.1:5001/alice/demo/worker@sha256:22
    environment: {MODE: compose, DEBUG: false, EMPTY: null, COUNT: 3}
"""
RELEASE = ReleaseFacts("b" * 32, "alice/demo#4", COMPOSITION)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {}),
        ("A=1", {}),
        (["A=1", "B=x=y", "BARE", "C="], {"A": "1", "B": "x=y", "C": ""}),
        ({"A": 1, "B": True, "C": None, "D": "d"}, {"A": "1", "B": "true", "C": "", "D": "d"}),
    ],
)
def test_compose_environment(value, expected) -> None:
    assert compose_environment(value) == expected


def test_before_the_first_release_the_target_has_no_services() -> None:
    assert target_document(DEVICE, FLEET, None, {}, None) == {
        "device": {
            "uuid": "a" * 32,
            "name": "pi",
            "device_type": "raspberrypi3",
            "arch": "armv7hf",
            "lock_override": False,
        },
        "fleet": {"slug": "alice/demo", "name": "demo", "id": 3},
        "release": None,
        "services": {},
        "networks": {},
        "volumes": {},
        "registry": None,
    }


def test_a_release_gives_images_compose_and_variables_over_the_composition_environment() -> None:
    variables = {"main": {"MODE": "device", "EXTRA": "1"}, "worker": {}}
    doc = target_document(DEVICE, FLEET, RELEASE, variables, REGISTRY)
    assert doc["release"] == {"hash": "b" * 32, "name": "alice/demo#4"}
    assert doc["registry"] == {"server": "127.0.0.1:5001", "username": "fleetgate", "password": "secret"}
    assert doc["networks"] == {"backend": {}} and doc["volumes"] == {"resin-data": {}}
    main, worker = doc["services"]["main"], doc["services"]["worker"]
    assert main["image"] == "127.0.0.1:5001/alice/demo/main@sha256:11"
    assert main["environment"] == {"MODE": "device", "PORT": "80", "EXTRA": "1"}
    assert main["compose"]["privileged"] is True
    assert main["compose"]["labels"] == {"io.balena.update.strategy": "hand-over"}
    assert worker["environment"] == {"MODE": "compose", "DEBUG": "false", "EMPTY": "", "COUNT": "3"}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        (lambda: target_document(DEVICE, FLEET, RELEASE, {"main": {"A": "1"}}, REGISTRY), True),
        (lambda: target_document(DEVICE, FLEET, RELEASE, {"main": {"A": "2"}}, REGISTRY), False),
        (lambda: target_document(DEVICE, FLEET, RELEASE, {"worker": {"A": "1"}}, REGISTRY), False),
        (lambda: target_document(DEVICE, FLEET, None, {"main": {"A": "1"}}, REGISTRY), False),
        (lambda: target_document(DEVICE, FLEET, RELEASE, {"main": {"A": "1"}}, None), False),
        (
            lambda: target_document(
                DeviceFacts("a" * 32, "pi", "raspberrypi3", True),
                FLEET,
                RELEASE,
                {"main": {"A": "1"}},
                REGISTRY,
            ),
            False,
        ),
    ],
)
def test_the_etag_changes_exactly_when_the_document_does(change, same) -> None:
    base = etag(target_document(DEVICE, FLEET, RELEASE, {"main": {"A": "1"}}, REGISTRY))
    assert len(base) == 32 and all(c in "0123456789abcdef" for c in base)
    assert (etag(change()) == base) is same


@pytest.mark.parametrize("text", ["services: [", "just a string", "services: [a, b]"])
def test_an_unreadable_composition_is_our_fault(text: str) -> None:
    with pytest.raises(CompositionError):
        target_document(DEVICE, FLEET, ReleaseFacts("b" * 32, "x#1", text), {}, None)
