"""Rollouts to two servers over SSH, through each server's proxy (issue 5)."""

from __future__ import annotations

import csv
import io
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fleetgate.deploy.retention import ReleaseFact, Retention
from fleetgate.deploy.servers.commands import fleet_key
from fleetgate.deploy.servers.rollout import rollout
from fleetgate.deploy.servers.status import remove_lock as unlock
from fleetgate.deploy.servers.status import server_status as status

from .app import REGISTRY, build_app, delete_app
from .conftest import HTTP_PORT, OPTIONS, get, host_name, release, targets
from .load import Load
from .sshd import start_server, stop_servers


def fleet_containers(server, slug: str) -> list[tuple[str, str, str]]:
    out = server.dockerd.cli(
        "ps",
        "-a",
        "--filter",
        f"label=io.fleetgate.fleet={slug}",
        "--format",
        '{{.Names}} {{.Label "io.fleetgate.release"}} {{.State}}',
    ).stdout
    return [tuple(line.split()) for line in out.splitlines()]


def run(rel, servers, lines: list[str] | None = None, **options):
    said: list[str] = [] if lines is None else lines
    stamped = lambda line: said.append(f"{time.monotonic():.3f} {line}")  # noqa: E731
    return rollout(rel, targets(servers), who="alice", say=stamped, options=replace(OPTIONS, **options)), said


def test_rollout_to_both_hosts_without_failed_requests(servers, images):
    slug = "alice/demo"
    result, lines = run(release(slug, "one", images["one"]), servers)
    assert result.ok, (result.reason, lines)
    assert [h.state for h in result.hosts] == ["switched", "switched"]
    for server in servers:
        assert get(server, slug) == (200, "release one\n")

    load = Load(
        [(s.host, HTTP_PORT, host_name(slug)) for s in servers],
        clients_per_target=6,
        slow_every=1,
        slow_seconds=2,
    )
    load.start()
    time.sleep(1)  # steady traffic on release one before the rollout starts
    result, lines = run(release(slug, "two", images["two"]), servers)
    time.sleep(1)
    outcomes = load.stop()
    assert result.ok, (result.reason, lines)

    failed = [o for o in outcomes if o.error or o.status != 200]
    assert failed == [], failed[:5]
    assert {o.body for o in outcomes} == {"release one\n", "release two\n"}
    spanning = []
    for server in servers:
        endpoint = f"{server.host}:{server.port}: "
        before = [
            float(line.split()[0]) for line in lines if endpoint in line and "switching the proxy" in line
        ]
        after = [float(line.split()[0]) for line in lines if endpoint in line and "proxy switched to" in line]
        assert len(before) == len(after) == 1, lines
        spanning += [
            o
            for o in outcomes
            if o.target == server.host and "slow" in o.path and o.started < before[0] and o.ended > after[0]
        ]
    slow = [(round(o.started, 2), round(o.ended, 2), o.target) for o in outcomes if "slow" in o.path]
    assert spanning, ("no slow request was in flight during a switch", slow[-40:], lines)
    assert {o.body for o in spanning} == {"release one\n"}  # in-flight requests finish on the old release
    reused = sum(1 for o in outcomes if o.connection == 1)
    assert reused > len(outcomes) // 2, "the clients did not keep their connections"
    for server in servers:
        assert get(server, slug) == (200, "release two\n")
        audit = (server.home / ".fleetgate" / "audit.log").read_text()
        assert "alice deployed alice/demo#two" in audit


def test_unhealthy_release_keeps_old_one_and_shows_logs(servers, images):
    slug = "alice/broken"
    assert run(release(slug, "one", images["one"]), servers)[0].ok
    broken = release(slug, "broken", images["broken"])
    result, lines = run(broken, servers, health_timeout=5)
    assert not result.ok
    assert [h.state for h in result.hosts] == ["failed", "not started"]
    assert "did not answer GET /up with 200 within 5s" in result.reason
    assert any("no /up here, this release is broken" in line for line in lines), lines
    for server in servers:
        assert get(server, slug) == (200, "release one\n")
        found = fleet_containers(server, slug)
        assert [state for _, _, state in found] == ["running"]  # the failed container is removed
        assert found[0][1] != broken.release_hash
    # Again into the slot that served release one: its old passing check must not count for the new one.
    assert run(release(slug, "two", images["two"]), servers)[0].ok
    result, lines = run(broken, servers, health_timeout=5)
    assert not result.ok and "did not answer GET /up" in result.reason, lines
    assert all(get(server, slug) == (200, "release two\n") for server in servers)


def test_lock_held_stops_rollout_and_switches_canary_back(servers, images):
    slug = "alice/locked"
    assert run(release(slug, "one", images["one"]), servers)[0].ok
    lock = servers[1].home / ".fleetgate" / "locks" / fleet_key(slug)
    lock.mkdir(parents=True)
    (lock / "details").write_text(
        '{"who": "bob", "since": "2026-11-22T07:00:00Z", "release": "alice/locked#9"}'
    )
    result, lines = run(release(slug, "two", images["two"]), servers)
    assert not result.ok
    assert [h.state for h in result.hosts] == ["switched back", "failed"]
    endpoint = f"{servers[1].host}:{servers[1].port}"
    assert result.reason == (
        f"rollout failed on {endpoint}: deploy lock of {slug} on {endpoint} is held by bob since "
        f"2026-11-22T07:00:00Z for alice/locked#9; wait for that rollout, or if it died: "
        f"fleetgate server unlock {slug} {endpoint}"
    )
    for server in servers:
        assert get(server, slug) == (200, "release one\n")
    shown = status(targets(servers)[1], slug, OPTIONS)
    assert shown.lock is not None and shown.lock.who == "bob"
    assert unlock(targets(servers)[1], slug, OPTIONS).release == "alice/locked#9"
    assert not lock.exists()
    assert run(release(slug, "two", images["two"]), servers)[0].ok
    assert all(get(server, slug) == (200, "release two\n") for server in servers)


def host_digests(server, repository: str) -> set[str]:
    """The digests of `repository` the server's daemon holds."""
    shown = server.dockerd.cli("images", "--digests", "--no-trunc", "--format", "{{.Repository}} {{.Digest}}")
    return {
        d for r, d in (line.split() for line in shown.stdout.splitlines()) if r == f"{REGISTRY}/{repository}"
    }


@pytest.fixture
def own_images(servers) -> Iterator[tuple[str, dict[str, str]]]:
    """Releases one, two and three of the app in a repository no other test uses (a fleet's own)."""
    repository = f"fgtest/prune-{uuid.uuid4().hex[:8]}"
    pushed = {name: build_app(repository, name) for name in ("one", "two", "three")}
    yield repository, pushed
    for image in pushed.values():
        delete_app(image)


def keeping(slug: str, made: list, images: dict[str, str], *kept) -> Retention:
    """The retention the gateway would hand the rollout: `kept` releases kept, the others dropped."""
    facts = {
        r.release_hash: ReleaseFact(r.release_hash, n, "success", (images[name],))
        for n, (name, r) in enumerate(made, start=1)
    }
    hashes = tuple(r.release_hash for r in kept)
    return Retention(slug, hashes, tuple(h for h in facts if h not in hashes), facts)


def test_prune_keeps_the_retention_by_digest_and_rollback_reuses_it(servers, own_images):
    repository, images = own_images
    slug = "alice/prune"
    made = [(n, release(slug, n, images[n])) for n in ("one", "two", "three")]
    (_, one), (_, two), (_, three) = made
    keeps = lambda *kept: keeping(slug, made, images, *kept)  # noqa: E731
    assert run(one, servers)[0].ok
    assert run(replace(two, retention=keeps(two, one)), servers)[0].ok
    result, lines = run(replace(three, retention=keeps(three, one)), servers)
    assert result.ok, lines
    for server in servers:  # two is not kept, but the host ran it before: kept for a switch back
        assert {rel for _, rel, _ in fleet_containers(server, slug)} == {
            r.release_hash for r in (one, two, three)
        }
    result, lines = run(replace(one, retention=keeps(one, three)), servers)
    assert result.ok, (result.reason, lines)
    assert any("starting the retained container" in line for line in lines)
    assert not any("pulling" in line for line in lines)
    for server in servers:
        assert get(server, slug) == (200, "release one\n")
        kept = {rel: state for _, rel, state in fleet_containers(server, slug)}
        assert kept == {one.release_hash: "running", three.release_hash: "exited"}
        # Images by digest: release two's went with its container (docker ps names no digest).
        assert host_digests(server, repository) == {images[n].partition("@")[2] for n in ("one", "three")}
    shown = status(targets(servers)[0], slug, OPTIONS)
    assert (shown.release, shown.healthy, shown.lock) == (one.release_hash, True, None)


def test_a_changed_host_key_is_refused_and_nothing_runs(servers, images, tmp_path):
    # The server as known_hosts remembers it has another key of the same type: a reinstall, or an attack.
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = other.with_suffix(".pub").read_text().split()[:2]
    recorded = tmp_path / "known_hosts"
    recorded.write_text(f"[{servers[0].host}]:{servers[0].port} {kind} {key}\n")
    target = replace(targets(servers)[0], known_hosts=recorded)
    slug = "alice/changed"
    say = lambda _: None  # noqa: E731
    result = rollout(release(slug, "one", images["one"]), [target], who="a", say=say, options=OPTIONS)
    endpoint = f"{servers[0].host}:{servers[0].port}"
    assert not result.ok
    assert result.reason == (
        f"rollout failed on {endpoint}: host key of {endpoint} differs from the one in {recorded}: "
        "it may be an attack; if the server was reinstalled, check it and run: "
        f"fleetgate server trust {endpoint}"
    )
    assert fleet_containers(servers[0], slug) == []


def test_unknown_host_key_is_refused(servers, images, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    target = replace(targets(servers)[0], known_hosts=empty)
    result = rollout(
        release("alice/trust", "one", images["one"]), [target], who="a", say=lambda _: None, options=OPTIONS
    )
    endpoint = f"{servers[0].host}:{servers[0].port}"
    assert result.reason == (
        f"rollout failed on {endpoint}: host key of {endpoint} is not trusted; "
        f"check it and run: fleetgate server trust {endpoint}"
    )


def test_second_rollout_while_one_runs_is_stopped_by_the_lock(servers, images):
    slug = "alice/race"
    second: list = []

    def say(line: str) -> None:
        # The first rollout holds the canary's lock once it says it is rolling out: start another then.
        if not second and "rolling out" in line:
            other = rollout(
                release(slug, "three", images["three"]),
                targets(servers),
                who="bob",
                say=lambda _: None,
                options=OPTIONS,
            )
            second.append(other)

    first = rollout(
        release(slug, "two", images["two"]), targets(servers), who="alice", say=say, options=OPTIONS
    )
    assert first.ok, first.reason
    assert not second[0].ok
    endpoint = f"{servers[0].host}:{servers[0].port}"
    assert f"deploy lock of {slug} on {endpoint} is held by alice since " in second[0].reason
    assert f"for {slug}#two; wait for that rollout" in second[0].reason
    for server in servers:
        assert get(server, slug) == (200, "release two\n")


def test_new_fleet_reloads_the_proxy_without_failing_other_fleets_requests(servers, images):
    busy, newcomer = "alice/busy", "alice/newcomer"
    assert run(release(busy, "one", images["one"]), servers)[0].ok
    load = Load([(s.host, HTTP_PORT, host_name(busy)) for s in servers], clients_per_target=6, slow_every=2)
    load.start()
    time.sleep(1)
    result, lines = run(release(newcomer, "two", images["two"]), servers)  # a new route: the proxy reloads
    time.sleep(1)
    outcomes = load.stop()
    assert result.ok, (result.reason, lines)
    assert sum(1 for line in lines if "proxy configuration reloaded" in line) == 2, lines
    failed = [o for o in outcomes if o.error or o.status != 200]
    assert failed == [], failed[:5]
    assert {o.body for o in outcomes} == {"release one\n"}
    assert all(get(server, newcomer) == (200, "release two\n") for server in servers)


def test_a_reload_by_another_fleet_during_a_switch_loses_nothing(servers, images):
    # Regression: a reload of the shared proxy (another fleet's new route) while this fleet's new
    # container waited for its health check in the idle slot started a worker from the config, where
    # that slot was empty: the check never passed and the rollout failed for another fleet's sake.
    slug = "alice/reloaded"
    assert run(release(slug, "one", images["one"]), [servers[0]])[0].ok
    backend = f"fg_{fleet_key(slug)}"

    def idle_slot_in_use() -> bool:
        """Release two's container went into slot b (release one serves from a), checked or not yet."""
        shown = (
            servers[0]
            .dockerd.cli(
                "exec",
                "fleetgate-proxy",
                "sh",
                "-c",
                "echo 'show stat' | socat stdio unix-connect:/run/haproxy/admin.sock",
            )
            .stdout
        )
        rows = csv.DictReader(io.StringIO(shown.lstrip("# ")))
        return any(
            r["pxname"] == backend and r["svname"] == "b" and not r["status"].startswith("MAINT")
            for r in rows
        )

    result: list = []
    rollout_thread = threading.Thread(
        target=lambda: result.append(run(release(slug, "two", images["two"]), [servers[0]]))
    )
    rollout_thread.start()
    deadline = time.monotonic() + 60
    while not idle_slot_in_use():
        assert time.monotonic() < deadline and rollout_thread.is_alive(), "the new slot never went to drain"
        time.sleep(0.05)
    servers[0].dockerd.cli("kill", "--signal", "USR2", "fleetgate-proxy")  # what another fleet's route does
    rollout_thread.join(60)
    outcome, lines = result[0]
    assert outcome.ok, (outcome.reason, lines)
    assert get(servers[0], slug) == (200, "release two\n")


def test_the_hosts_after_the_canary_go_as_many_at_once_as_the_parallel_limit(servers, images):
    third = start_server(13, servers[0].key_path, servers[0].known_hosts)
    slug = "alice/wide"
    try:
        three = [*servers, third]
        order = lambda lines: [  # noqa: E731
            (line.split()[1], "start" if "rolling out" in line else "end")
            for line in lines
            if "rolling out" in line or " serving " in line
        ]
        result, lines = run(release(slug, "one", images["one"]), three, parallel=1)
        assert result.ok, (result.reason, lines)
        canary, second, last = (f"{s.host}:{s.port}:" for s in three)
        steps = order(lines)
        assert steps[:2] == [(canary, "start"), (canary, "end")]
        assert {steps[2][0], steps[4][0]} == {second, last}  # in turns: one ends before the next starts
        assert [step[1] for step in steps[2:]] == ["start", "end", "start", "end"]
        assert steps[2][0] == steps[3][0]

        result, lines = run(release(slug, "two", images["two"]), three, parallel=2)
        assert result.ok, (result.reason, lines)
        assert [step[1] for step in order(lines)[2:]] == ["start", "start", "end", "end"]  # together
        for server in three:
            assert get(server, slug) == (200, "release two\n")
    finally:
        stop_servers([third])
