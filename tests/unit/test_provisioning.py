"""Registration rules, listen rules and If-None-Match parsing of the device API: pure tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetgate.deploy.api.app import _etags
from fleetgate.deploy.api.http_server import Listen, ListenError, check_listen, is_loopback
from fleetgate.deploy.provisioning import RegistrationError, check_registration, key_hash, new_key

UUID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("uuid", "device_type", "name", "fleet_type", "expected"),
    [
        (UUID, "raspberrypi3", None, "raspberrypi3", UUID),
        (UUID.upper(), "raspberrypi3", "pi", "raspberrypi3", UUID),
        (UUID, "beaglebone-black", "bbb", "raspberrypi3", UUID),  # another type, the same arch
        ("ab" * 31, "intel-nuc", None, "generic-amd64", "ab" * 31),
        (UUID, "intel-nuc", None, "raspberrypi3", "device type intel-nuc is amd64, but the fleet's releases "
         "are built for armv7hf; register it to a fleet of amd64 devices"),
        (UUID, "raspberrypi5", None, "raspberrypi3", "unknown device type 'raspberrypi5'; use one of: "
         "raspberry-pi, raspberrypi3, raspberrypi4-64, beaglebone-black, intel-nuc, generic-amd64, "
         "generic-aarch64, qemux86"),
        ("abc", "raspberrypi3", None, "raspberrypi3",
         "device uuid 'abc' is not 32 hexadecimal digits; generate a new one"),
        (UUID[:-1] + "g", "raspberrypi3", None, "raspberrypi3",
         f"device uuid '{UUID[:-1]}g' is not 32 hexadecimal digits; generate a new one"),
        (UUID, "raspberrypi3", "a\nb", "raspberrypi3",
         "device name must be 1 to 255 characters, with no control characters"),
        (UUID, "raspberrypi3", "", "raspberrypi3",
         "device name must be 1 to 255 characters, with no control characters"),
    ],
)  # fmt: skip
def test_registration_rules(uuid, device_type, name, fleet_type, expected) -> None:
    try:
        assert check_registration(uuid, device_type, name, fleet_type) == expected
    except RegistrationError as error:
        assert str(error) == expected


def test_keys_are_random_and_stored_as_sha256() -> None:
    first, second = new_key(), new_key()
    assert first != second and len(first) >= 43
    assert key_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.org", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plain_http_is_refused_off_loopback() -> None:
    check_listen(Listen("127.0.0.1", 0))
    with pytest.raises(ListenError) as refused:
        check_listen(Listen("0.0.0.0", 8080))
    assert str(refused.value) == (
        "plain HTTP on 0.0.0.0 would send device keys in clear; set FLEETGATE_HTTP_CERT and "
        "FLEETGATE_HTTP_KEY (PEM files), or listen on 127.0.0.1"
    )
    with pytest.raises(ListenError, match="cannot use FLEETGATE_HTTP_CERT=/nonexistent"):
        check_listen(Listen("0.0.0.0", 8080, Path("/nonexistent"), Path("/nonexistent")))


@pytest.mark.parametrize(
    ("header", "tags"),
    [(None, set()), ("", set()), ('"abc"', {"abc"}), ('W/"abc"', {"abc"}), ("abc", {"abc"}),
     ('"a", W/"b" ,"c"', {"a", "b", "c"})],
)  # fmt: skip
def test_if_none_match(header, tags) -> None:
    assert _etags(header) == tags
