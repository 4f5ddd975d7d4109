"""Public key rules (fleetgate.keys.parse_public_key) over real keys made by ssh-keygen."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess

import pytest

from fleetgate.keys import PublicKeyError, parse_public_key, parse_public_keys

DSA_REFUSED = "DSA keys are not accepted; generate an ed25519 key with ssh-keygen -t ed25519"
OPTIONS_REFUSED = (
    "authorized_keys options (command=, no-pty, from=, ...) are not accepted; "
    "give the bare key line as in your .pub file"
)
NOT_A_KEY = "not an OpenSSH public key line; expected e.g. 'ssh-ed25519 AAAA... you@host'"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """(public key line, ssh-keygen's own SHA256 fingerprint) per key kind."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed")
    root = tmp_path_factory.mktemp("keys")
    kinds = {
        "ed25519": ["-t", "ed25519"],
        "ecdsa256": ["-t", "ecdsa", "-b", "256"],
        "ecdsa384": ["-t", "ecdsa", "-b", "384"],
        "ecdsa521": ["-t", "ecdsa", "-b", "521"],
        "rsa2048": ["-t", "rsa", "-b", "2048"],
        "rsa3072": ["-t", "rsa", "-b", "3072"],
        "rsa1024": ["-t", "rsa", "-b", "1024"],
        "dsa": ["-t", "dsa"],
    }
    made = {}
    for kind, args in kinds.items():
        path = root / kind
        made_key = subprocess.run(
            ["ssh-keygen", "-q", "-N", "", "-C", f"{kind}@test", "-f", str(path), *args], capture_output=True
        )
        if made_key.returncode != 0:
            continue  # newer OpenSSH no longer makes DSA keys; the DSA rule is tested textually too
        listed = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"], capture_output=True, text=True
        )
        made[kind] = ((root / f"{kind}.pub").read_text().strip(), listed.stdout.split()[1])
    return made


@pytest.mark.parametrize(
    ("kind", "key_type", "bits"),
    [
        ("ed25519", "ssh-ed25519", 256),
        ("ecdsa256", "ecdsa-sha2-nistp256", 256),
        ("ecdsa384", "ecdsa-sha2-nistp384", 384),
        ("ecdsa521", "ecdsa-sha2-nistp521", 521),
        ("rsa2048", "ssh-rsa", 2048),
        ("rsa3072", "ssh-rsa", 3072),
    ],
)
def test_accepted(made: dict[str, tuple[str, str]], kind: str, key_type: str, bits: int) -> None:
    line, fingerprint = made[kind]
    key = parse_public_key(line)
    assert (key.type, key.bits, key.fingerprint, key.comment) == (key_type, bits, fingerprint, f"{kind}@test")
    assert key.line == " ".join(line.split()[:2])


def test_security_key_is_accepted() -> None:
    def string(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    blob = string(b"sk-ssh-ed25519@openssh.com") + string(b"\x01" * 32) + string(b"ssh:")
    key = parse_public_key(f"sk-ssh-ed25519@openssh.com {base64.b64encode(blob).decode()} yubi")
    assert (key.type, key.bits, key.comment) == ("sk-ssh-ed25519@openssh.com", 256, "yubi")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (
            "rsa1024",
            "RSA keys need at least 2048 bits, this one has 1024; "
            "generate an ed25519 key with ssh-keygen -t ed25519",
        ),
        ("dsa", DSA_REFUSED),
    ],
)
def test_refused_kinds(made: dict[str, tuple[str, str]], kind: str, message: str) -> None:
    if kind not in made:
        pytest.skip(f"this ssh-keygen cannot make {kind} keys")
    with pytest.raises(PublicKeyError) as error:
        parse_public_key(made[kind][0])
    assert str(error.value) == message


ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVbkIfCzWfuXHXpnTUdnsK5gvGfkTBhJmYVe8BwRJbW"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f'command="/bin/sh" {ED}', OPTIONS_REFUSED),
        (f"no-pty {ED} me", OPTIONS_REFUSED),
        (f'from="10.0.0.0/8",no-agent-forwarding {ED}', OPTIONS_REFUSED),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAL", DSA_REFUSED),
        ("hello world", NOT_A_KEY),
        ("", NOT_A_KEY),
        ("AAAAC3NzaC1lZDI1NTE5AAAAIOVbkIfCzWfuXHXpnTUdnsK5gvGfkTBhJmYVe8BwRJbW", NOT_A_KEY),
        ("---- BEGIN SSH2 PUBLIC KEY ----", NOT_A_KEY),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "this is a private key; never share it: add the .pub file next to it instead",
        ),
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVb",
            "the ssh-ed25519 key is damaged or of an unknown type; copy it again",
        ),
        (
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOVbkIfCzWfuXHXpnTUdnsK5gvGfkTBhJmYVe8BwRJbW",
            "the ssh-rsa key is damaged or of an unknown type; copy it again",
        ),
        (
            "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t",
            "SSH certificates are not accepted; add the plain public key (the .pub file)",
        ),
    ],
)
def test_refused_lines(line: str, message: str) -> None:
    with pytest.raises(PublicKeyError) as error:
        parse_public_key(line)
    assert str(error.value) == message


def test_comment_mentioning_dsa_is_fine() -> None:
    assert parse_public_key(f"{ED} replaced my ssh-dss key").comment == "replaced my ssh-dss key"


def test_file_with_several_keys(made: dict[str, tuple[str, str]]) -> None:
    text = "\n".join(
        ["# laptop", made["ed25519"][0], "", "  ", made["rsa2048"][0], made["ed25519"][0], "# end"]
    )
    assert [k.type for k in parse_public_keys(text)] == ["ssh-ed25519", "ssh-rsa"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no public key found; give a .pub file, e.g. ~/.ssh/id_ed25519.pub"),
        ("# only a comment\n\n", "no public key found; give a .pub file, e.g. ~/.ssh/id_ed25519.pub"),
        (f"{ED}\n\nnonsense\n", f"line 3: {NOT_A_KEY}"),
        ("nonsense", NOT_A_KEY),
    ],
)
def test_refused_files(text: str, message: str) -> None:
    with pytest.raises(PublicKeyError) as error:
        parse_public_keys(text)
    assert str(error.value) == message


def test_whitespace_is_normalised() -> None:
    assert parse_public_key(f"  {ED}\tme@host  ") == parse_public_key(f"{ED} me@host")
