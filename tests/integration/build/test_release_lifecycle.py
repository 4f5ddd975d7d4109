"""A release's end when the pusher goes away, detaches, or the registry refuses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from ..support import SERVE, Gateway, git, new_gateway
from .conftest import fleet, project, push, release, releases


def start_push(gateway: Gateway, work: Path, key: Path, slug: str, *flags: str) -> subprocess.Popen:
    env = {**os.environ, "GIT_SSH_COMMAND": gateway.ssh_command(key)}
    return subprocess.Popen(
        ["git", "push", *flags, gateway.url(slug), "master"],
        cwd=work,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_line(proc: subprocess.Popen, text: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} never appeared in: {''.join(seen)}")


def wait_for_status(gateway: Gateway, spec: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = release(gateway, spec)
        if shown["status"] != "running":
            return shown
        time.sleep(0.5)
    raise AssertionError(f"{spec} is still running")


def test_a_disconnect_cancels_the_build_and_leaves_master(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/dc", "generic-amd64")
    work = project(tmp_path, "slow")
    proc = start_push(gateway, work, key, "alice/dc", "-o", "nocache")
    wait_for_line(proc, "slow step started")
    os.killpg(proc.pid, signal.SIGKILL)  # Ctrl-C in the pusher's terminal
    proc.wait()
    started = time.monotonic()
    ended = wait_for_status(gateway, "alice/dc#1", 30)
    assert ended["status"] == "cancelled"
    assert time.monotonic() - started < 30  # not the 60 s the step would take
    listed = git("ls-remote", gateway.url("alice/dc"), cwd=work, key=key, gw=gateway).stdout
    assert "refs/heads/master" not in listed


def test_a_detached_push_finishes_after_the_disconnect(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/dt", "generic-amd64")
    work = project(tmp_path, "slow")
    (work / "Dockerfile").write_text('FROM busybox-fg\nRUN echo "slow step started" && sleep 8\n')
    git("commit", "-qam", "shorter", cwd=work)
    proc = start_push(gateway, work, key, "alice/dt", "-o", "detach", "-o", "nocache")
    wait_for_line(proc, "slow step started")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    ended = wait_for_status(gateway, "alice/dt#1", 60)
    assert ended["status"] == "success", ended["error"]
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    listed = git("ls-remote", gateway.url("alice/dt"), cwd=work, key=key, gw=gateway).stdout
    assert f"{head}\trefs/heads/master" in listed


def test_a_registry_that_refuses_fails_the_release_cleanly(tmp_path: Path, auth_registry: str) -> None:
    gateway = new_gateway(
        tmp_path,
        SERVE,
        {
            "FLEETGATE_REGISTRY": auth_registry,
            "FLEETGATE_REGISTRY_USER": "fleetgate",
            "FLEETGATE_REGISTRY_PASSWORD": "wrong",
        },
    )
    gateway.start()
    try:
        key = fleet(gateway, "alice/reg", "generic-amd64")
        work = project(tmp_path, "dockerfile-plain")
        result = push(gateway, work, key, "alice/reg", "master", check=False)
        assert result.returncode == 1
        assert "! [remote rejected] master -> master (build failed: " in result.stderr
        shown = releases(gateway, "alice/reg")
        assert [r["status"] for r in shown] == ["failed"]
        assert auth_registry in release(gateway, "alice/reg#1")["error"]
        assert (
            "refs/heads/master"
            not in git("ls-remote", gateway.url("alice/reg"), cwd=work, key=key, gw=gateway).stdout
        )
    finally:
        gateway.stop()
