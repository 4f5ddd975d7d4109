"""Nothing to clean up (issue 19): `fleetgate prune`, the rollouts' own prune and serve's daily one, with
the real build daemon, a registry of the test's own (it deletes there and garbage-collects it) and the
two test servers. Server 16 has role `web` (the web service only), server 17 none (every service).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..build.conftest import project, push, release
from ..own_registry import OwnRegistry, start_registry
from ..support import FLEETGATE, SERVE, Gateway, git, new_gateway, remote_lines, setup_fleet
from .conftest import ROLLOUT_ENV, add_servers, cleanup, get
from .test_push_rollout import edit

DOCKER = "/usr/bin/docker"
SLUG = "alice/prune"
pytestmark = pytest.mark.timeout(1500)  # six builds and eight rollouts on a machine shared with other runs


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[OwnRegistry]:
    own = start_registry(tmp_path / "registry")
    yield own
    own.stop()


def settings_file(gw: Gateway, text: str) -> None:
    """The gateway's fleetgate.toml says `text` (as an operator edits it)."""
    (gw.home / "fleetgate.toml").write_text(text + "\n")


def cli_with(gw: Gateway, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(FLEETGATE + list(args), env={**gw.env, **env}, capture_output=True, text=True)


def hashes(gw: Gateway) -> set[str]:
    """Every release hash of every fleet of the gateway."""
    slugs = [f["slug"] for f in json.loads(gw.cli("fleet", "list", "--json").stdout)]
    return {r["hash"] for s in slugs for r in json.loads(gw.cli("release", "list", s, "--json").stdout)}


def daemon_tags(gw: Gateway) -> set[str]:
    """The main daemon's tags of the gateway's releases (other runs share the daemon and the slugs)."""
    shown = subprocess.run([DOCKER, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True)
    ours = hashes(gw)
    return {tag for tag in shown.stdout.decode().split() if tag.rpartition(":")[2] in ours}


def remove_daemon_tags(gw: Gateway) -> None:
    tags = daemon_tags(gw)
    if tags:
        subprocess.run([DOCKER, "rmi", *tags], capture_output=True)


@pytest.fixture
def pruning(tmp_path: Path, registry: OwnRegistry, servers) -> Iterator[Gateway]:
    """A gateway on the test's registry whose settings file turns pruning off, as before an operator
    turns it on (serve reads the file when it starts)."""
    env = {"FLEETGATE_REGISTRY": registry.host, "FLEETGATE_PRUNE_INTERVAL": "off", **ROLLOUT_ENV}
    gw = new_gateway(tmp_path, SERVE, env)
    settings_file(gw, 'releases_kept = "off"')
    gw.start(timeout=90)
    yield gw
    gw.stop()
    remove_daemon_tags(gw)


class Releases:
    """The test fleet's releases by number, and their images' digests by service."""

    def __init__(self, gw: Gateway, count: int) -> None:
        self.made = {n: release(gw, f"{SLUG}#{n}") for n in range(1, count + 1)}

    def hash(self, n: int) -> str:
        return self.made[n]["hash"]

    def digest(self, n: int, service: str) -> str:
        return next(i["digest"] for i in self.made[n]["images"] if i["service"] == service)

    def number(self, release_hash: str) -> int:
        return next(n for n, r in self.made.items() if r["hash"] == release_hash)


def on_server(server, registry: OwnRegistry, found: Releases) -> tuple[set, set]:
    """The fleet's containers (service, release number, state) and images (service, digest) on a server."""
    shown = server.dockerd.cli(
        "ps", "-a", "--filter", f"label=io.fleetgate.fleet={SLUG}", "--format",
        '{{.Label "io.fleetgate.service"}} {{.Label "io.fleetgate.release"}} {{.State}}',
    )  # fmt: skip
    containers = {
        (s, found.number(r), state) for s, r, state in (line.split() for line in shown.stdout.splitlines())
    }
    listed = server.dockerd.cli(
        "images", "--digests", "--no-trunc", "--format", "{{.Repository}} {{.Digest}}"
    )
    prefix = f"{registry.host}/{SLUG}/"
    images = {
        (repository.removeprefix(prefix), digest)
        for repository, digest in (line.split() for line in listed.stdout.splitlines())
        if repository.startswith(prefix)
    }
    return containers, images


def snapshot(gw: Gateway, registry: OwnRegistry, servers, found: Releases) -> tuple:
    repositories = sorted(registry.catalog())
    return (
        daemon_tags(gw),
        repositories,
        {r: registry.tags(r) for r in repositories},
        [on_server(s, registry, found) for s in servers],
    )


def expected_removals(registry: OwnRegistry, servers, found: Releases) -> list[str]:
    """What `fleetgate prune` removes with FLEETGATE_RELEASES_KEPT=2 after #1..#5, #2 failed: everything of
    #1, #2 and #3 the retention (#5 the target, #4 the rollback target) does not share, failed first."""
    name = {1: f"{SLUG}#1", 2: f"{SLUG}#2, failed", 3: f"{SLUG}#3"}
    lines = []
    for server, services in zip(servers, (("web",), ("web", "worker")), strict=True):
        place = f"server {server.host}:{server.port}"
        for n in (1, 3):  # #2 never ran: its rollout failed on the canary and took its images with it
            for service in services:
                container = f"alice.prune_{service}_{found.hash(n)[:12]}"
                lines.append(f"container {container} from {place} ({name[n]})")
        for n in (1, 3):  # the worker's image is the same in every release: kept by #4 and #5
            lines.append(
                f"image {registry.host}/{SLUG}/web@{found.digest(n, 'web')} from {place} ({name[n]})"
            )
    for n in (2, 1, 3):
        manifest = f"{SLUG}/web@{found.digest(n, 'web')}"
        lines.append(f"manifest {manifest} from registry {registry.host} ({name[n]})")
    for n in (2, 1, 3):
        for prefix in (registry.host, "fleetgate"):
            for service in ("web", "worker"):
                tag = f"{prefix}/{SLUG}/{service}:{found.hash(n)}"
                lines.append(f"tag {tag} from build daemon default ({name[n]})")
    return lines


def test_prune_keeps_exactly_the_retention_everywhere(
    pruning: Gateway, registry: OwnRegistry, servers, tmp_path: Path
) -> None:
    gw = pruning
    key = setup_fleet(gw, SLUG, "generic-amd64")
    add_servers(gw, SLUG, servers, ("web", None))
    work = project(tmp_path, "server-app")
    try:
        push(gw, work, key, SLUG, "master")
        edit(work, "release two", healthy=False)
        assert push(gw, work, key, SLUG, "master", check=False).returncode != 0
        for text in ("three", "four", "five"):
            edit(work, f"release {text}")
            push(gw, work, key, SLUG, "master")
        found = Releases(gw, 5)
        statuses = [found.made[n]["status"] for n in range(1, 6)]
        assert statuses == ["success", "failed", "success", "success", "success"]
        assert len({found.digest(n, "web") for n in range(1, 6)}) == 5
        assert len({found.digest(n, "worker") for n in range(1, 6)}) == 1  # an unchanged service: one image
        worker = found.digest(5, "worker")
        # Pruning was off: the servers kept every release; the canary holds nothing of #2, whose rollout
        # failed there (it removed the image it had pulled).
        canary_images = on_server(servers[0], registry, found)[1]
        assert canary_images == {("web", found.digest(n, "web")) for n in (1, 3, 4, 5)}

        settings_file(gw, "releases_kept = 2")  # the operator turns pruning on
        before = snapshot(gw, registry, servers, found)
        dry = gw.cli("prune", "--dry-run").stdout.splitlines()
        expected = expected_removals(registry, servers, found)
        assert dry == [f"would remove {line}" for line in expected] + [
            f"{SLUG} keeps {SLUG}#5, {SLUG}#4",
            f"would remove {len(expected)} items; run `fleetgate prune` to remove them",
        ]
        listed = json.loads(gw.cli("prune", "--dry-run", "--json").stdout)
        assert (listed["keep"], listed["dry_run"], listed["problems"]) == (2, True, [])
        assert [f"{r['kind']} {r['name']}" for r in listed["removals"]] == [
            " ".join(e.split()[:2]) for e in expected
        ]
        assert snapshot(gw, registry, servers, found) == before  # a dry run removes nothing

        done = gw.cli("prune").stdout.splitlines()
        assert done == [f"removed {line}" for line in expected] + [
            f"{SLUG} keeps {SLUG}#5, {SLUG}#4",
            f"removed {len(expected)} items (FLEETGATE_RELEASES_KEPT=2)",
        ]
        kept = (found.hash(4), found.hash(5))
        prefixes, services = (registry.host, "fleetgate"), ("web", "worker")
        assert daemon_tags(gw) == {f"{p}/{SLUG}/{s}:{h}" for p in prefixes for s in services for h in kept}
        assert sorted(registry.catalog()) == [f"{SLUG}/web", f"{SLUG}/worker"]
        assert registry.tags(f"{SLUG}/web") == set(kept)
        # The worker's one manifest is every release's (an unchanged service), so it stays, and so do the
        # tags naming it: the registry API deletes manifests, never a tag alone.
        assert registry.tags(f"{SLUG}/worker") == {found.hash(n) for n in range(1, 6)}
        served = [registry.has(f"{SLUG}/web", found.digest(n, "web")) for n in range(1, 6)]
        assert served == [False, False, False, True, True]
        assert registry.has(f"{SLUG}/worker", worker)
        web = {(4, "exited"), (5, "running")}
        assert on_server(servers[0], registry, found) == (
            {("web", n, state) for n, state in web},
            {("web", found.digest(n, "web")) for n in (4, 5)},
        )
        assert on_server(servers[1], registry, found) == (
            {(s, n, state) for s in ("web", "worker") for n, state in web},
            {("web", found.digest(n, "web")) for n in (4, 5)} | {("worker", worker)},
        )
        again = gw.cli("prune").stdout.splitlines()
        assert again == [f"{SLUG} keeps {SLUG}#5, {SLUG}#4", "nothing to remove (FLEETGATE_RELEASES_KEPT=2)"]

        # The oldest kept release runs again from what the servers kept: no pull, the registry is down.
        registry.stop()
        back = gw.cli("rollback", SLUG).stdout
        registry.start()
        assert f"rolled {SLUG} back to {SLUG}#4" in back
        assert "starting the retained container" in back and "pulling" not in back, back
        for server in servers:
            assert get(server, SLUG) == (200, "release four\n")

        # The registry's garbage collection frees the deleted manifests' blobs; what is kept stays whole.
        blobs = registry.blobs()
        registry.garbage_collect()
        registry.start()
        assert registry.blobs() < blobs
        assert registry.has(f"{SLUG}/web", found.digest(4, "web")) and registry.has(f"{SLUG}/worker", worker)

        # With pruning on in serve, each host keeps exactly the retention after a push: #6 and #5.
        gw.stop()
        gw.start(timeout=90)
        gw.cli("fleet", "pin", SLUG, "--latest")  # back to #5, following pushes again
        edit(work, "release six")
        pushed = push(gw, work, key, SLUG, "master", flags=("-o", "plain"))
        assert "pruned 2 container(s) and 1 image(s)" in "\n".join(remote_lines(pushed.stderr))
        found = Releases(gw, 6)
        web = {(5, "exited"), (6, "running")}
        assert on_server(servers[1], registry, found) == (
            {(s, n, state) for s in ("web", "worker") for n, state in web},
            {("web", found.digest(n, "web")) for n in (5, 6)} | {("worker", worker)},
        )
    finally:
        cleanup(servers, SLUG)


def test_a_refused_option_in_any_service_touches_no_host(gateway: Gateway, servers, tmp_path: Path) -> None:
    slug = "alice/refused"
    key = setup_fleet(gateway, slug, "generic-amd64")
    add_servers(gateway, slug, servers, ("web", None))
    work = project(tmp_path, "server-refused-option")
    try:
        rejected = push(gateway, work, key, slug, "master", flags=("-o", "plain"), check=False)
        # git's ref line is shortened to 100 columns (issue 19, item 3): its start names service and option.
        reason = "service worker: 'privileged' is not"
        assert f"! [remote rejected] master -> master (rollout failed: {reason}" in rejected.stderr
        assert not any("pulling" in line for line in remote_lines(rejected.stderr))
        for server in servers:
            assert (
                server.dockerd.cli("ps", "-aq", "--filter", f"label=io.fleetgate.fleet={slug}").stdout == ""
            )
            images = server.dockerd.cli("images", "--format", "{{.Repository}}").stdout.split()
            assert not [i for i in images if f"/{slug}/" in i]
            state = server.home / ".fleetgate"
            assert not (state / "locks" / "alice.refused").exists()
            assert not (state / "proxy" / "routes" / "alice.refused.json").exists()
            audit = state / "audit.log"
            assert slug not in (audit.read_text() if audit.exists() else "")
        # Its images are the failed release's: a prune (here the authenticating registry's) takes them.
        pruned = cli_with(gateway, {"FLEETGATE_RELEASES_KEPT": "1"}, "prune")
        assert pruned.returncode == 0, pruned.stderr
        # (Its manifests may stay: an identical build of an earlier run, unknown to this gateway, names them.)
        assert f"tag fleetgate/{slug}/web:" in pruned.stdout and f"({slug}#1, failed)" in pruned.stdout
        assert daemon_tags(gateway) == set()
    finally:
        cleanup(servers, slug)
        remove_daemon_tags(gateway)


def test_serve_prunes_by_itself_and_off_is_off(registry: OwnRegistry, tmp_path: Path) -> None:
    env = {
        "FLEETGATE_REGISTRY": registry.host,
        "FLEETGATE_RELEASES_KEPT": "1",
        "FLEETGATE_PRUNE_INTERVAL": "2",
    }
    gw = new_gateway(tmp_path, SERVE, env)
    gw.start(timeout=90)
    slug = "alice/daily"
    try:
        key = setup_fleet(gw, slug, "generic-amd64")
        work = project(tmp_path, "dockerfile-plain")
        push(gw, work, key, slug, "master")
        for text in ("second", "third"):  # #3 the target, #2 the rollback target: #1 goes
            (work / "Dockerfile").write_text(f'FROM busybox-fg\nCMD ["echo", "{text}"]\n')
            git("commit", "-qam", text, cwd=work)
            push(gw, work, key, slug, "master")
        first, second, third = (release(gw, f"{slug}#{n}")["hash"] for n in (1, 2, 3))
        log = gw.home / "serve.log"
        assert wait_for(lambda: f"prune: removed manifest {slug}/main@" in log.read_text()), log.read_text()[
            -3000:
        ]
        assert wait_for(lambda: not any(first in tag for tag in daemon_tags(gw)))
        assert f"from registry {registry.host} ({slug}#1)" in log.read_text()
        assert registry.tags(f"{slug}/main") == {second, third}
        assert daemon_tags(gw) == {
            f"{p}/{slug}/main:{h}" for p in (registry.host, "fleetgate") for h in (second, third)
        }
        off = cli_with(gw, {"FLEETGATE_RELEASES_KEPT": "off"}, "prune", "--dry-run")
        assert (off.returncode, off.stdout) == (1, "")
        assert off.stderr == (
            "fleetgate: error: pruning is off (FLEETGATE_RELEASES_KEPT=off); "
            "set it to a number of releases to keep\n"
        )
    finally:
        gw.stop()
        remove_daemon_tags(gw)


def wait_for(check: Callable[[], bool], seconds: float = 90) -> bool:
    """Whether `check` came true within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False
