"""Known-hosts decisions and names, as tables (issue 5: host keys are accepted by the operator)."""

from __future__ import annotations

import base64

import pytest
from fleetgate.deploy.servers.known_hosts import Decision, HostKey, decide, host_name

ED = HostKey("ssh-ed25519", b"ed-key-1")
ED_OTHER = HostKey("ssh-ed25519", b"ed-key-2")
RSA = HostKey("ssh-rsa", b"rsa-key-1")


@pytest.mark.parametrize(
    ("recorded", "offered", "expected"),
    [
        ([], ED, Decision.UNKNOWN),
        ([ED], ED, Decision.TRUSTED),
        ([RSA, ED], ED, Decision.TRUSTED),
        ([ED_OTHER], ED, Decision.CHANGED),
        ([RSA, ED_OTHER], ED, Decision.CHANGED),
        ([RSA], ED, Decision.UNKNOWN),  # a key of another type vouches for nothing
    ],
)
def test_decisions(recorded: list[HostKey], offered: HostKey, expected: Decision) -> None:
    assert decide(recorded, offered) is expected


@pytest.mark.parametrize(
    ("host", "port", "name"),
    [
        ("10.0.0.5", 22, "10.0.0.5"),
        ("10.0.0.5", 2222, "[10.0.0.5]:2222"),
        ("web.example.org", 22, "web.example.org"),
    ],
)
def test_names(host: str, port: int, name: str) -> None:
    assert host_name(host, port) == name


def test_the_fingerprint_is_what_ssh_keygen_prints() -> None:
    line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFrWfBgx31Fi45Hhqn5y4ICj1iRduUAvZtrooFqrQHm+"
    key = HostKey("ssh-ed25519", base64.b64decode(line.split()[1]))
    assert key.line_value == line
    # `ssh-keygen -lf` of that key printed: 256 SHA256:5uXB/iQ9P4zMFeWuahlKMLlExg5g3PA/pEKtRiQZdE8 (ED25519)
    assert key.fingerprint == "SHA256:5uXB/iQ9P4zMFeWuahlKMLlExg5g3PA/pEKtRiQZdE8"
