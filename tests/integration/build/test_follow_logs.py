"""`ssh git@HOST logs RELEASE -f`: a member follows a build from another terminal while it runs."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from ..support import Gateway, git
from .conftest import fleet, project, release
from .test_release_lifecycle import start_push


def _running_release(gateway: Gateway, slug: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listed = json.loads(gateway.cli("release", "list", slug, "--json").stdout)
        if listed and listed[0]["status"] == "running":
            return listed[0]["release"]
        time.sleep(0.2)
    raise AssertionError(f"no build of {slug} started")


def test_a_member_follows_a_running_build_until_it_ends(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/follow", "generic-amd64")
    gateway.add_user("bob")
    gateway.cli("fleet", "member", "add", "alice/follow", "bob")
    work = project(tmp_path, "slow")
    (work / "Dockerfile").write_text(
        'FROM busybox-fg\nRUN echo "slow step started" && sleep 20 && echo "slow step finished"\n'
    )
    git("commit", "-qam", "six seconds", cwd=work)
    pusher = start_push(gateway, work, key, "alice/follow", "-o", "nocache")
    name = _running_release(gateway, "alice/follow")
    follower = subprocess.Popen(
        gateway.ssh_argv(gateway.keys["bob"], f"logs {name} -f"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen, while_running = [], None
    for line in follower.stdout:
        seen.append(line.rstrip("\n"))
        if while_running is None and "slow step started" in line:
            while_running = release(gateway, name)["status"]  # the line came while it still built
    assert follower.wait(60) == 0, follower.stderr.read()
    pusher.communicate(timeout=120)
    assert pusher.returncode == 0
    assert while_running == "running"
    assert any(line.startswith("[main] ") and "slow step finished" in line for line in seen)
    assert release(gateway, name)["status"] == "success"
    # Afterwards the same command prints the stored log and ends at once.
    after = subprocess.run(
        gateway.ssh_argv(gateway.keys["bob"], f"logs {name} --service main"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.returncode == 0
    assert "slow step finished" in after.stdout
