"""Known hosts: the server host keys the operator has accepted, in FLEETGATE_HOME (issue 5).

fleetgate never trusts a host key on first use by itself: `fleetgate server trust HOST` fetches the key,
shows its SHA256 fingerprint (as `ssh-keygen -lf` prints it) and records it only when the operator
accepts it. Every rollout connection checks the server's key against this file and refuses on a
mismatch or a missing entry (paramiko's RejectPolicy). The file is in OpenSSH's known_hosts format,
so `ssh-keygen -F`/`-R` work on it too.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

DEFAULT_PORT = 22


class HostKeyError(ValueError):
    """A server's host key cannot be fetched or trusted; the message says what to do."""


class Decision(Enum):
    """What the known-hosts file says about a key a server offers."""

    TRUSTED = "trusted"  # recorded for this host: connect
    UNKNOWN = "unknown"  # no key of this host recorded: the operator must accept it first
    CHANGED = "changed"  # another key of the same type is recorded: refuse, it may be an attack


@dataclass(frozen=True)
class HostKey:
    """A public host key: its type (`ssh-ed25519`) and its wire bytes."""

    type: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        """`SHA256:<base64 without padding>`, the form OpenSSH shows."""
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    @property
    def line_value(self) -> str:
        """`<type> <base64>`, the key part of a known_hosts line."""
        return f"{self.type} {base64.b64encode(self.blob).decode()}"


def host_name(host: str, port: int) -> str:
    """The host's name in a known_hosts file: `host` on port 22, else `[host]:port`."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def decide(recorded: Iterable[HostKey], offered: HostKey) -> Decision:
    """Compare the key a server offers with the keys recorded for its name."""
    recorded = list(recorded)
    if offered in recorded:
        return Decision.TRUSTED
    if any(key.type == offered.type for key in recorded):
        return Decision.CHANGED
    # A recorded key of another type only says the host is known, not that this key is its own.
    return Decision.UNKNOWN


def recorded_keys(path: Path, name: str) -> list[HostKey]:
    """The keys recorded for `name` in the known-hosts file (none when the file does not exist)."""
    import paramiko  # here, not at the top: every `fleetgate` command imports this module

    if not path.exists():
        return []
    try:
        keys = paramiko.HostKeys(str(path)).lookup(name)
    except (OSError, paramiko.SSHException) as error:
        raise HostKeyError(f"cannot read the known-hosts file {path}: {error}") from None
    if keys is None:
        return []
    return [HostKey(kind, key.asbytes()) for kind, key in keys.items()]


def fetch(host: str, port: int, timeout: float = 10.0) -> HostKey:
    """The host key the SSH server at host:port offers (no authentication is attempted)."""
    import paramiko

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise HostKeyError(f"cannot connect to {host_name(host, port)}: {error.strerror or error}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as error:
        raise HostKeyError(f"{host_name(host, port)} did not complete an SSH handshake: {error}") from None
    finally:
        transport.close()
    return HostKey(key.get_name(), key.asbytes())


def record(path: Path, name: str, key: HostKey) -> None:
    """Append `name key` to the known-hosts file, atomically (a crash never leaves half a line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    handle, temporary = tempfile.mkstemp(prefix=".known_hosts.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as file:
            file.write(old + f"{name} {key.line_value}\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
