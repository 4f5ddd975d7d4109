"""A target's service as Docker's create arguments: compose keys, balena's variables and feature labels."""

from __future__ import annotations

from typing import Any

import pytest
from fleetgate.deploy.agent.container_config import ComposeServiceError, Device, container_config
from fleetgate.deploy.agent.docker_steps import grace_period
from fleetgate.deploy.device_state import parse_target

IMAGE = "127.0.0.1:5001/alice/demo/main@sha256:" + "1" * 64
DEVICE = Device(
    uuid="d" * 32,
    name="kitchen",
    device_type="raspberrypi3",
    arch="armv7hf",
    fleet_id=3,
    fleet_name="demo",
    api_url="https://gw:8080",
    api_key="device-key",
    lock_root="/var/lib/fg/locks",
    docker_socket="/var/run/docker.sock",
    version="0.1.0",
)
ALL_HOST_PATHS = frozenset({"/lib/modules", "/lib/firmware", "/run/dbus", "/sys", "/proc"})


def config(compose: dict[str, Any], env: dict[str, str] | None = None, host_paths=ALL_HOST_PATHS):
    doc = {
        "device": {"uuid": "d" * 32},
        "fleet": {"slug": "alice/demo", "name": "demo", "id": 3},
        "release": {"hash": "a" * 40, "name": "alice/demo#1"},
        "services": {"main": {"image": IMAGE, "compose": compose, "environment": env or {}}},
        "networks": {"back": {}},
        "volumes": {"data": {}},
    }
    target = parse_target(doc)
    return container_config(target.services[0], target, DEVICE, "main_aaaaaaaaaaaa", host_paths)


def test_balena_variables_and_the_targets_environment() -> None:
    env = config({"environment": {"LEVEL": "1", "X": "compose"}}, {"X": "variable"}).create["environment"]
    expected = {
        "BALENA": "1",
        "BALENA_APP_ID": "3",
        "BALENA_APP_NAME": "demo",
        "BALENA_SERVICE_NAME": "main",
        "BALENA_DEVICE_UUID": "d" * 32,
        "BALENA_DEVICE_NAME_AT_INIT": "kitchen",
        "BALENA_DEVICE_TYPE": "raspberrypi3",
        "BALENA_DEVICE_ARCH": "armv7hf",
        "BALENA_APP_LOCK_PATH": "/tmp/balena/updates.lock",
        "RESIN": "1",
        "RESIN_DEVICE_UUID": "d" * 32,
        "LEVEL": "1",
        "X": "variable",
    }
    assert {k: env[k] for k in expected} == expected
    assert "BALENA_API_KEY" not in env and "DBUS_SYSTEM_BUS_ADDRESS" not in env


@pytest.mark.parametrize(
    ("label", "binds", "env"),
    [
        ("io.balena.features.kernel-modules", ["/lib/modules:/lib/modules:ro"], {}),
        ("io.balena.features.firmware", ["/lib/firmware:/lib/firmware"], {}),
        (
            "io.balena.features.dbus",
            ["/run/dbus:/host/run/dbus"],
            {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/host/run/dbus/system_bus_socket"},
        ),
        (
            "io.balena.features.balena-socket",
            ["/var/run/docker.sock:/var/run/balena-engine.sock"],
            {"DOCKER_HOST": "unix:///var/run/balena-engine.sock"},
        ),
        (
            "io.balena.features.balena-api",
            [],
            {
                "BALENA_API_URL": "https://gw:8080",
                "BALENA_API_KEY": "device-key",
                "RESIN_API_KEY": "device-key",
            },
        ),
        ("io.balena.features.sysfs", ["/sys:/sys"], {}),
    ],
)
def test_feature_labels(label: str, binds: list[str], env: dict[str, str]) -> None:
    made = config({"labels": {label: "1"}}).create
    locks = ["/var/lib/fg/locks/main:/tmp/balena", "/var/lib/fg/locks/main:/tmp/resin"]
    assert made["volumes"] == locks + binds
    assert {k: made["environment"].get(k) for k in env} == env
    assert config({"labels": {label: "0"}}).create["volumes"] == locks


def test_a_feature_bind_is_left_out_where_the_host_has_no_such_path() -> None:
    made = config({"labels": {"io.balena.features.kernel-modules": "1"}}, host_paths=frozenset())
    assert not any("/lib/modules" in b for b in made.create["volumes"])


def test_compose_keys_map_to_docker() -> None:
    made = config(
        {
            "privileged": True,
            "restart": "on-failure:3",
            "command": ["sleep", "1"],
            "cap_add": ["NET_ADMIN"],
            "devices": ["/dev/ttyUSB0:/dev/ttyUSB0"],
            "ports": ["8080:80", "53/udp", "127.0.0.1:9000:9000"],
            "volumes": ["data:/data", "cache:/cache:ro"],
            "labels": ["team=iot"],
            "extra_hosts": ["gw:172.31.1.1"],
            "networks": {"back": {"aliases": ["api"]}, "default": None},
        }
    )
    create = made.create
    assert create["privileged"] is True and create["cap_add"] == ["NET_ADMIN"]
    assert create["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert create["ports"] == {"80/tcp": 8080, "53/udp": None, "9000/tcp": ("127.0.0.1", 9000)}
    assert create["volumes"][:2] == ["3_data:/data", "3_cache:/cache:ro"]
    assert create["labels"]["team"] == "iot" and create["labels"]["io.fleetgate.managed"] == "1"
    assert create["labels"]["io.fleetgate.release"] == "a" * 40
    assert create["labels"]["io.fleetgate.service"] == "main"
    assert create["labels"]["io.fleetgate.device"] == "d" * 32
    assert create["extra_hosts"] == {"gw": "172.31.1.1"}
    assert create["network"] == "3_back" and create["networking_config"] == {
        "3_back": {"Aliases": ["main", "api"]}
    }
    assert made.networks == (("3_default", ("main",)),)


@pytest.mark.parametrize(
    ("compose", "expected"),
    [
        ({}, {"network": "3_default", "restart_policy": {"Name": ""}}),
        (
            {"network_mode": "host", "restart": "always"},
            {"network_mode": "host", "restart_policy": {"Name": "always"}},
        ),
    ],
)
def test_network_mode_and_restart(compose: dict[str, Any], expected: dict[str, Any]) -> None:
    create = config(compose).create
    assert {k: create.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("compose", "message"),
    [
        ({"volumes": ["/etc:/host-etc"]}, "binds a host path, which devices refuse"),
        ({"volumes": ["./src:/src"]}, "binds a host path"),
        ({"volumes": [{"type": "bind", "source": "/", "target": "/host"}]}, "only named volumes"),
        ({"restart": "sometimes"}, "is not no, always, on-failure or unless-stopped"),
    ],
)
def test_refusals(compose: dict[str, Any], message: str) -> None:
    with pytest.raises(ComposeServiceError, match=message):
        config(compose)


@pytest.mark.parametrize(
    ("value", "seconds"), [(None, 10), ("", 10), (5, 5), ("5s", 5), ("1m30s", 90), ("2m", 120), ("soon", 10)]
)
def test_stop_grace_period(value: object, seconds: int) -> None:
    assert grace_period(value) == seconds
