"""Two gateway nodes sharing one database and one repository store share each fleet's push line (§8)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from pathlib import Path

from ..support import PLAIN_SERVE, free_port, git, make_repo, new_gateway
from .rawpush import RawPush


def test_a_push_on_one_node_waits_for_a_push_on_the_other(tmp_path: Path, database_url: str) -> None:
    first = new_gateway(
        tmp_path, PLAIN_SERVE, {"FLEETGATE_DATABASE_URL": database_url, "FLEETGATE_NODE_ID": "a"}
    )
    second = dataclasses.replace(first, port=free_port(), keys=first.keys)
    second.env = dict(first.env, FLEETGATE_SSH_LISTEN=f"127.0.0.1:{second.port}", FLEETGATE_NODE_ID="b")
    first.start()
    second.start()
    try:
        key = first.add_user("alice")
        first.cli("fleet", "create", "alice/demo", "--device-type", "generic-amd64")
        holder = RawPush(first.ssh_command(key), first.port, "/alice/demo.git")
        holder.advertisement()  # node a holds the fleet
        work = make_repo(tmp_path / "w")
        env = {**os.environ, "GIT_SSH_COMMAND": second.ssh_command(key)}
        waiting = subprocess.Popen(
            ["git", "push", second.url("alice/demo"), "master"],
            cwd=work,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        assert waiting.poll() is None  # still waiting on node b
        holder.send(b"0000")
        holder.close()
        _, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
        assert "another push to alice/demo is running; waiting (position 1)" in err
        listed = git("ls-remote", first.url("alice/demo"), cwd=work, key=key, gw=first).stdout
        assert git("rev-parse", "HEAD", cwd=work).stdout.strip() + "\trefs/heads/master" in listed
    finally:
        first.stop()
        second.stop()
