"""SIGTERM with a push in flight, through the real `fleetgate serve` and a real build (issue 19, item 2).

A push shorter than FLEETGATE_SHUTDOWN_GRACE finishes and is deployed while the gateway takes no new
connection; one longer is interrupted: the pusher reads why in one line, its release is `interrupted`,
master stays where it was. Each push ends as one log line naming who, the fleet, the release, how long.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from ..service_support import fingerprint, json_events, log_text, wait_for_log
from ..support import SERVE, Gateway, git, new_gateway
from .conftest import fleet, project, release
from .test_release_lifecycle import start_push, wait_for_line


def draining_gateway(tmp_path: Path, registry: str, grace: int) -> Gateway:
    gw = new_gateway(
        tmp_path,
        SERVE,
        {
            "FLEETGATE_REGISTRY": registry,
            "FLEETGATE_SHUTDOWN_GRACE": str(grace),
            "FLEETGATE_LOG_FORMAT": "json",
        },
    )
    gw.start()
    return gw


def slow(tmp_path: Path, seconds: int) -> Path:
    work = project(tmp_path, "slow")
    (work / "Dockerfile").write_text(
        f'FROM busybox-fg\nRUN echo "slow step started" && sleep {seconds} && echo "slow step finished"\n'
    )
    git("commit", "-qam", f"{seconds} s", cwd=work)
    return work


def master_of(gw: Gateway, slug: str) -> str | None:
    ref = gw.repo_for(slug) / "refs" / "heads" / "master"
    return ref.read_text().strip() if ref.exists() else None


def test_a_push_shorter_than_the_grace_finishes_while_nothing_new_gets_in(
    tmp_path: Path, registry: str
) -> None:
    gw = draining_gateway(tmp_path, registry, 60)
    try:
        key = fleet(gw, "alice/drain", "generic-amd64")
        work = slow(tmp_path, 6)
        http = gw.http_url()
        pushing = start_push(gw, work, key, "alice/drain", "-o", "nocache", "-o", "plain")
        wait_for_line(pushing, "slow step started")
        gw.proc.send_signal(signal.SIGTERM)
        wait_for_log(gw, lambda line: "stopping: no new connections" in line)
        refused = subprocess.run(gw.ssh_argv(key, "whoami"), capture_output=True, text=True, timeout=60)
        assert refused.returncode == 255 and "Connection refused" in refused.stderr
        try:
            httpx.get(f"{http}/healthz", timeout=5)
            raise AssertionError("the HTTP API still answers")
        except httpx.ConnectError:
            pass
        _, said = pushing.communicate(timeout=120)
        assert pushing.returncode == 0, said
        assert "shutting down" not in said
        assert gw.proc.wait(60) == 0
    finally:
        gw.stop()
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert master_of(gw, "alice/drain") == head
    assert release(gw, "alice/drain#1")["status"] == "success"
    [push] = json_events(gw, "push")
    assert push["duration"] > 6
    assert {
        k: push[k] for k in ("outcome", "user", "key", "fleet", "release", "release_status", "reason")
    } == {
        "outcome": "accepted",
        "user": "alice",
        "key": fingerprint(key),
        "fleet": "alice/drain",
        "release": "alice/drain#1",
        "release_status": "success",
        "reason": None,
    }
    messages = [json.loads(line)["message"] for line in log_text(gw).splitlines() if line.startswith("{")]
    assert messages[-2:] == [push["message"], "fleetgate stopped"]  # it waited for the push, then stopped


def test_a_push_longer_than_the_grace_is_interrupted_and_its_release_too(
    tmp_path: Path, registry: str
) -> None:
    gw = draining_gateway(tmp_path, registry, 2)
    try:
        key = fleet(gw, "alice/cut", "generic-amd64")
        work = slow(tmp_path, 120)
        pushing = start_push(gw, work, key, "alice/cut", "-o", "nocache", "-o", "plain")
        wait_for_line(pushing, "slow step started")
        signalled = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        _, said = pushing.communicate(timeout=120)
        assert gw.proc.wait(60) == 0
        assert time.monotonic() - signalled < 30  # the grace, and the build's stop: not the 120 s step
    finally:
        gw.stop()
    assert pushing.returncode == 1
    lines = said.splitlines()
    assert (
        "fleetgate: the gateway is shutting down: push interrupted after 2 s; "
        "release alice/cut#1 is recorded as interrupted; push again in a minute"
    ) in lines
    assert any(
        line.strip().startswith(
            "! [remote rejected] master -> master (interrupted: the gateway is shutting down"
        )
        for line in lines
    ), said
    interrupted = release(gw, "alice/cut#1")
    assert (interrupted["status"], interrupted["error"]) == (
        "interrupted",
        "the gateway shut down during the push (after a grace of 2 s); push again",
    )
    assert master_of(gw, "alice/cut") is None
    [push] = json_events(gw, "push")
    assert (push["outcome"], push["release"], push["release_status"]) == (
        "failed",
        "alice/cut#1",
        "interrupted",
    )
    assert push["reason"] == "interrupted: the gateway is shutting down; push again in a minute"
    assert not any(
        doc["level"] == "error" for doc in map(json.loads, _json_lines(gw))
    )  # no fault, no traceback


def _json_lines(gw: Gateway) -> list[str]:
    return [line for line in log_text(gw).splitlines() if line.startswith("{")]
