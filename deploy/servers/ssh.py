"""SSH: one paramiko connection to a server, running `Command`s (issue 5).

Host keys are checked against the operator's known-hosts file only (never the system's, never added on
first use): an unknown or changed key refuses the connection with a line naming `fleetgate server trust`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .commands import Command


class SSHError(RuntimeError):
    """The server could not be reached, refused us, or a command failed; one line says which."""


@dataclass(frozen=True)
class Output:
    """What a command printed and how it ended."""

    status: int
    stdout: str
    stderr: str


class Connection:
    """An open SSH connection to one server."""

    def __init__(self, client, endpoint: str, timeout: float) -> None:
        self._client = client
        self.endpoint = endpoint
        self.timeout = timeout

    def run(self, command: Command, timeout: float | None = None) -> Output:
        """Run a command; an exit status outside `command.ok` raises SSHError with its stderr."""
        out = self.call(command, timeout)
        if out.status not in command.ok:
            detail = (out.stderr.strip() or out.stdout.strip()).splitlines()
            shown = command.argv[0] if command.secret else command.line
            if len(shown) > 120:
                shown = shown[:117] + "..."
            raise SSHError(
                f"{shown} failed on {self.endpoint} (exit {out.status}): {' / '.join(detail[-3:])}"
            )
        return out

    def call(self, command: Command, timeout: float | None = None) -> Output:
        """Run a command and return its output whatever its exit status."""
        import paramiko

        limit = timeout or self.timeout
        try:
            channel = self._client.get_transport().open_session(timeout=limit)
            channel.settimeout(limit)
            channel.exec_command(command.line)
            if command.stdin is not None:
                channel.sendall(command.stdin)
            channel.shutdown_write()
            stdout, stderr = _drain(channel, limit)
            status = channel.recv_exit_status()
            channel.close()
        except (paramiko.SSHException, OSError, EOFError) as error:
            raise SSHError(
                f"lost the SSH connection to {self.endpoint}: {error or type(error).__name__}"
            ) from None
        return Output(status, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def close(self) -> None:
        self._client.close()


def _drain(channel, limit: float) -> tuple[bytes, bytes]:
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + limit
    while not (channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no end within {limit:.0f}s")
        if channel.recv_ready():
            out += channel.recv(65536)
        elif channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        else:
            time.sleep(0.005)
    return bytes(out), bytes(err)


def connect(
    host: str, port: int, user: str, key_path: Path | None, known_hosts: Path, timeout: float = 10.0
) -> Connection:
    """Log in with the operator's key (or the SSH agent / default keys) and the known-hosts check."""
    import paramiko

    bracketed = f"[{host}]" if ":" in host else host
    name = bracketed if port == 22 else f"{bracketed}:{port}"
    client = paramiko.SSHClient()
    if known_hosts.exists():
        client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            host,
            port=port,
            username=user,
            key_filename=str(key_path) if key_path else None,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            look_for_keys=key_path is None,
            allow_agent=key_path is None,
        )
    except paramiko.BadHostKeyException:
        client.close()
        raise SSHError(
            f"host key of {name} differs from the one in {known_hosts}: it may be an attack; "
            f"if the server was reinstalled, check it and run: fleetgate server trust {name}"
        ) from None
    except paramiko.SSHException as error:
        client.close()
        if "not found in known_hosts" in str(error):
            raise SSHError(
                f"host key of {name} is not trusted; check it and run: fleetgate server trust {name}"
            ) from None
        raise SSHError(f"cannot log in to {user}@{name}: {error}") from None
    except OSError as error:
        client.close()
        raise SSHError(f"cannot connect to {name}: {error.strerror or error}") from None
    return Connection(client, name, timeout)
