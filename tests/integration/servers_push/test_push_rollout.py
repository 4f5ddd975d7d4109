"""`git push` to a fleet with two servers: build, roll out host by host, and the commands around it (issue 5).

One story per test, on a fleet of its own: server 16 has role `web` (the web service only), server 17
no role (every service). Tests delete the containers they made on the servers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ..build.conftest import project, push, release
from ..support import Gateway, git, remote_lines, setup_fleet, unwrapped
from .conftest import add_servers, cleanup, get, services_on, status

SECRET = "s3cret-value-never-shown"
# Builds and rollouts on a machine shared with other test runs: generous, a hang still ends.
pytestmark = pytest.mark.timeout(900)


def narrow(stderr: str) -> None:
    """Every line the pusher sees fits in 100 columns, but for the build's own (`[web]  #5 …`)."""
    for line in re.sub(r"\x1b\[[0-9;]*m", "", stderr).splitlines():
        if not re.match(r"remote: \[(web|worker)\] ", line):
            assert len(line.rstrip()) <= 100, line


def edit(work: Path, text: str, healthy: bool = True) -> None:
    """A new commit whose web page says `text`; without /up when not healthy."""
    (work / "web" / "www" / "index.html").write_text(f"{text}\n")
    up = work / "web" / "www" / "up"
    if healthy:
        up.write_text("ok\n")
    else:
        up.unlink(missing_ok=True)
    git("add", "-A", cwd=work)
    git("commit", "-qm", text, cwd=work)


def head(work: Path) -> str:
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def remote_master(gw: Gateway, work: Path, key: Path, slug: str) -> str | None:
    listed = git("ls-remote", gw.url(slug), "refs/heads/master", cwd=work, key=key, gw=gw).stdout.split()
    return listed[0] if listed else None


def test_a_push_rolls_out_to_both_servers_and_an_unhealthy_one_is_rejected(
    gateway: Gateway, servers, tmp_path: Path
) -> None:
    slug = "alice/site"
    key = setup_fleet(gateway, slug, "generic-amd64")
    add_servers(gateway, slug, servers, ("web", None))
    gateway.cli("env", "set", slug, "GREETING=hello from env", "--service", "web")
    gateway.cli("env", "set", slug, f"TOKEN={SECRET}", "--secret")
    work = project(tmp_path, "server-app")
    try:
        pushed = push(gateway, work, key, slug, "master", flags=("-o", "plain"))
        narrow(pushed.stderr)
        lines = unwrapped(remote_lines(pushed.stderr))
        text = "\n".join(lines)
        first = release(gateway, f"{slug}#1")
        assert first["status"] == "success", first["error"]
        # Host by host, then a line per host, all before git reports the ref moved.
        assert "[Info]     Rolling out alice/site#1 to the servers of alice/site" in lines
        assert any(line.startswith("[Info]     127.0.0.16:2216: ") for line in lines), text
        assert any(line.startswith("[Info]     127.0.0.17:2217: ") for line in lines), text
        assert any(line.startswith("[Success]  127.0.0.16:2216: switched in ") for line in lines), text
        assert any(line.startswith("[Success]  127.0.0.17:2217: switched in ") for line in lines), text
        assert any(
            re.fullmatch(r"\[Info\]     127\.0\.0\.1[67]:221[67]: waiting up to \d+s for .+", x)
            for x in lines
        )
        assert lines[-1] == "[Success]  Deployed alice/site#1: rolled out to 2 of 2 servers"
        assert SECRET not in pushed.stderr
        assert remote_master(gateway, work, key, slug) == head(work)
        for server in servers:
            assert get(server, slug) == (200, "release one\n")
            assert get(server, slug, "/cgi-bin/env") == (200, "GREETING=hello from env\n")
        # Roles: the web server runs the web service only, the other every service.
        assert set(services_on(servers[0], slug)) == {"web"}
        assert set(services_on(servers[1], slug)) == {"web", "worker"}
        assert services_on(servers[1], slug)["worker"] == (first["hash"], "running")

        shown = status(gateway, slug)
        assert [(s["server"], s["reachable"], s["release"], s["healthy"], s["lock"]) for s in shown] == [
            ("127.0.0.16:2216", True, first["hash"], True, None),
            ("127.0.0.17:2217", True, first["hash"], True, None),
        ]
        assert shown[0]["release_name"] == f"{slug}#1"

        edit(work, "release broken", healthy=False)
        rejected = push(gateway, work, key, slug, "master", flags=("-o", "plain"), check=False)
        assert rejected.returncode != 0
        narrow(rejected.stderr)
        lines = unwrapped(remote_lines(rejected.stderr))
        text = "\n".join(lines)
        assert "starting release broken" in text  # the new container's last log lines reach the pusher
        errors = [line for line in lines if line.startswith("[Error]")]
        assert len(errors) == 1 and errors[0].startswith(
            "[Error]    alice/site#2 not deployed: rollout failed on 127.0.0.16:2216: container "
        ), errors
        assert lines[-1] == "[Info]     Servers: 1 failed, 1 not started"
        assert "! [remote rejected] master -> master (rollout failed on 127.0.0.16:2216: " in rejected.stderr
        assert "rollout failed: rollout failed" not in rejected.stderr
        broken = release(gateway, f"{slug}#2")
        assert broken["status"] == "failed" and broken["error"].startswith(
            "rollout failed on 127.0.0.16:2216: "
        )
        assert [i["status"] for i in broken["images"]] == ["success", "success"]  # still in the registry
        assert remote_master(gateway, work, key, slug) != head(work)  # the ref did not move
        for server in servers:
            assert get(server, slug) == (200, "release one\n")  # every host serves the old release
        assert json.loads(gateway.cli("fleet", "show", slug, "--json").stdout)["target"]["id"] == 1
    finally:
        cleanup(servers, slug)


def test_deploy_rollback_and_status(gateway: Gateway, servers, tmp_path: Path) -> None:
    slug = "alice/shop"
    key = setup_fleet(gateway, slug, "generic-amd64")
    add_servers(gateway, slug, servers, ("web", None))
    work = project(tmp_path, "server-app")
    try:
        push(gateway, work, key, slug, "master")
        edit(work, "release two")
        push(gateway, work, key, slug, "master")
        second = release(gateway, f"{slug}#2")
        for server in servers:
            assert get(server, slug) == (200, "release two\n")

        again = gateway.cli("deploy", slug)
        assert f"rolling out {slug}#2 ({second['hash'][:7]}) to the servers of {slug}" in again.stdout
        assert "127.0.0.16:2216: switched in " in again.stdout
        assert again.stdout.rstrip().endswith(f"{slug}'s servers run its target {slug}#2")
        for server in servers:
            assert get(server, slug) == (200, "release two\n")

        back = gateway.cli("rollback", slug)
        assert f"rolled {slug} back to {slug}#1" in back.stdout
        # The container kept for #1 starts again: no pull, no new container (the speed is bench's business).
        assert "127.0.0.16:2216: web: starting the retained container alice.shop_web_" in back.stdout
        assert "pulling" not in back.stdout
        first = release(gateway, f"{slug}#1")
        for server in servers:
            assert get(server, slug) == (200, "release one\n")
            assert services_on(server, slug)["web"] == (first["hash"], "running")

        shown = status(gateway, slug)
        assert [(s["release"], s["healthy"]) for s in shown] == [(first["hash"], True)] * 2
        table = gateway.cli("server", "status", slug).stdout.splitlines()
        assert table[0].split() == ["SERVER", "RELEASE", "HEALTH", "LOCK"]
        assert table[1].split() == ["127.0.0.16:2216", f"{slug}#1", f"({first['hash'][:7]})", "healthy", "-"]

        # Pinned by the rollback: a push builds, but the servers keep the target until pin --latest.
        edit(work, "release three")
        pushed = push(gateway, work, key, slug, "master", flags=("-o", "plain"))
        narrow(pushed.stderr)
        lines = unwrapped(remote_lines(pushed.stderr))
        assert f"[Info]     {slug} is pinned to {slug}#1; its servers keep it" in lines
        assert lines[-1] == (
            f"[Warn]     Built {slug}#3, not deployed: the fleet is pinned to #1 "
            f"(to follow pushes again: fleetgate fleet pin {slug} --latest)"
        )
        assert release(gateway, f"{slug}#3")["status"] == "success"
        for server in servers:
            assert get(server, slug) == (200, "release one\n")
        latest = gateway.cli("fleet", "pin", slug, "--latest")
        assert f"rolling out {slug}#3" in latest.stdout
        for server in servers:
            assert get(server, slug) == (200, "release three\n")

        # A named release: rolled out, and pinned as the fleet's target.
        named = gateway.cli("deploy", slug, f"{slug}#2")
        assert f"rolling out {slug}#2 ({second['hash'][:7]}) to the servers of {slug}" in named.stdout
        assert f"{slug} is pinned to {slug}#2" in named.stdout
        for server in servers:
            assert get(server, slug) == (200, "release two\n")
        assert json.loads(gateway.cli("fleet", "show", slug, "--json").stdout)["target"]["id"] == second["id"]
    finally:
        cleanup(servers, slug)


def test_a_held_lock_stops_a_push_and_a_deploy(gateway: Gateway, servers, tmp_path: Path) -> None:
    slug = "alice/lock"
    key = setup_fleet(gateway, slug, "generic-amd64")
    add_servers(gateway, slug, servers[:1], (None,))
    work = project(tmp_path, "server-app")
    endpoint = "127.0.0.16:2216"
    try:
        push(gateway, work, key, slug, "master")
        assert gateway.cli("server", "unlock", slug, endpoint).stdout == (
            f"{endpoint} had no deploy lock for {slug}\n"
        )
        # Another rollout holds the lock (or died holding it), as the engine records one on the host.
        lock = servers[0].home / ".fleetgate" / "locks" / "alice.lock"
        lock.mkdir(parents=True)
        details = {"who": "bob", "since": "2026-11-22T07:00:00Z", "release": f"{slug}#9"}
        (lock / "details").write_text(json.dumps(details))
        held = f"deploy lock of {slug} on {endpoint} is held by bob since 2026-11-22T07:00:00Z for {slug}#9"

        edit(work, "release two")
        rejected = push(gateway, work, key, slug, "master", check=False)
        assert rejected.returncode != 0 and held in "\n".join(unwrapped(remote_lines(rejected.stderr)))
        narrow(rejected.stderr)
        assert remote_master(gateway, work, key, slug) != head(work)
        denied = gateway.cli("deploy", slug, check=False)
        assert denied.returncode == 1 and held in denied.stderr
        assert denied.stderr.startswith(f"fleetgate: error: rollout failed on {endpoint}: ")
        assert status(gateway, slug)[0]["lock"] == details

        freed = gateway.cli("server", "unlock", slug, endpoint)
        assert freed.stdout.startswith(f"removed the deploy lock on {endpoint} held by bob since ")
        assert not lock.exists()
        push(gateway, work, key, slug, "master")
        assert get(servers[0], slug) == (200, "release two\n")
    finally:
        cleanup(servers, slug)
