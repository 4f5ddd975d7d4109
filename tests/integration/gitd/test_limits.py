"""The SSH edge's caps: auth attempts, sessions per connection, the persistent host key, no pty."""

from __future__ import annotations

import asyncio
import subprocess

from fleetgate.asyncssh_import import asyncssh

from ..support import Gateway


def test_too_many_keys_offered_ends_the_connection(gateway: Gateway) -> None:
    gateway.add_user("alice")
    strangers = [gateway.new_key(f"s{i}") for i in range(8)]
    argv = [
        "ssh",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "NumberOfPasswordPrompts=0",
        "-v",
    ]
    for key in strangers + [gateway.keys["alice"]]:
        argv += ["-i", str(key)]
    argv += ["-p", str(gateway.port), "git@127.0.0.1", "git-upload-pack '/alice/x.git'"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 255  # alice's key, offered ninth, never got its turn
    assert "Authenticated" not in result.stderr


def test_sessions_per_connection_are_capped(gateway: Gateway) -> None:
    key = gateway.add_user("alice")

    async def open_sessions() -> list[str]:
        outcomes = []
        async with asyncssh.connect(
            "127.0.0.1", gateway.port, username="git", client_keys=[str(key)], known_hosts=None
        ) as conn:
            held = []
            for _ in range(6):
                try:
                    held.append(await conn.create_process("git-upload-pack '/alice/none.git'"))
                    outcomes.append("open")
                except asyncssh.ChannelOpenError:
                    outcomes.append("refused")
            for process in held:
                process.close()
        return outcomes

    assert asyncio.run(open_sessions()) == ["open"] * 4 + ["refused"] * 2


def test_the_host_key_survives_a_restart_and_is_ed25519(gateway: Gateway) -> None:
    key_file = gateway.home / "ssh_host_ed25519_key"
    first = asyncssh.read_private_key(str(key_file))
    assert first.get_algorithm() == "ssh-ed25519"
    gateway.stop()
    gateway.start()
    assert asyncssh.read_private_key(str(key_file)).get_fingerprint() == first.get_fingerprint()


def test_a_pty_request_is_refused_and_a_shell_gets_the_friendly_line(gateway: Gateway) -> None:
    key = gateway.add_user("alice")
    base = [
        "ssh",
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-p",
        str(gateway.port),
        "git@127.0.0.1",
    ]
    forced = subprocess.run(
        base[:1] + ["-tt"] + base[1:], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert forced.returncode == 1
    # With a terminal, OpenSSH adds its own "Connection to … closed." line after ours.
    assert any(
        line.startswith(
            "Hi alice! fleetgate does not provide shell access. Push with: git push balena master"
        )
        for line in forced.stderr.splitlines()
    )
    shell = subprocess.run(base, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert shell.returncode == 1
    assert shell.stderr.splitlines()[-1] == (
        "Hi alice! fleetgate does not provide shell access. Push with: git push balena master"
        f" (or see: ssh -p {gateway.port} git@127.0.0.1 help)"
    )
