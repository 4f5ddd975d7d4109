"""What the pusher reads (issue 19): at most 100 columns outside build log lines, the release named
before the build starts, one error line naming service and release, an end that says what happened,
progress lines in long steps, and tags kept but never built. Real git, ssh, dockerd and registry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..support import SERVE, Gateway, git, new_gateway, remote_lines, unwrapped
from .conftest import fleet, project, push, release, releases

WIDTH = 100
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def build_line(line: str, services: tuple[str, ...]) -> bool:
    """A line of a service's own build output (`[main]     #5 …`): the only lines that may be wider."""
    return line.startswith(tuple(f"[{s}]" for s in services))


def assert_narrow(stderr: str, services: tuple[str, ...]) -> None:
    """Every line the pusher sees, git's own included, fits in 100 columns but the build's output."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stderr)
    for line in plain.splitlines():
        shown = line.rstrip()  # git pads remote lines to clear the terminal's line
        body = shown.removeprefix("remote: ")
        if not build_line(body, services):
            assert len(shown) <= WIDTH, f"{len(shown)} columns: {shown}"


def test_a_push_names_its_release_first_and_ends_narrow_with_short_digests(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = fleet(gateway, "alice/out", "generic-amd64")
    result = push(gateway, project(tmp_path, "compose-two"), key, "alice/out", "master")
    assert_narrow(result.stderr, ("first", "second"))
    lines = remote_lines(result.stderr)
    detail = release(gateway, "alice/out#1")
    first_step = next(i for i, line in enumerate(lines) if build_line(line, ("first", "second")))
    assert lines[:2] == [
        "[Info]     Starting build of release alice/out#1 for alice",
        f"[Info]     Release: {detail['hash']} (id: 1)",
    ]
    assert first_step > 1
    table = lines.index("[Info]     ┌─────────┬─────────────────────┬─────────┬────────────┐")
    assert lines[table + 1] == "[Info]     │ Service │ Image               │ Size    │ Build time │"
    assert lines[table + 2].startswith("[Info]     ├─────────┼") and lines[table + 5].startswith(
        "[Info]     └"
    )
    for row, image in zip(lines[table + 3 : table + 5], detail["images"], strict=True):
        assert row.startswith(f"[Info]     │ {image['service']:<7} │ {image['digest'][:19]} │ ")
    # The full digests are in `release show`, not in the pusher's lines (but for BuildKit's own).
    assert not DIGEST.search("\n".join(line for line in lines if not build_line(line, ("first", "second"))))
    assert any(line.startswith("[Info]     Uploaded 2 images to 127.0.0.1:5000 in ") for line in lines)
    assert lines[-1] == "[Success]  Deployed alice/out#1: the fleet's target (no devices or servers yet)"


def test_a_failed_build_has_one_error_line_naming_service_and_release(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = fleet(gateway, "alice/bad", "generic-amd64")
    push(gateway, project(tmp_path, "dockerfile-plain"), key, "alice/bad", "master")
    result = push(
        gateway, project(tmp_path, "broken"), key, "alice/bad", "master", flags=("-f",), check=False
    )
    assert result.returncode == 1
    assert_narrow(result.stderr, ("main",))
    lines = remote_lines(result.stderr)
    assert len([line for line in lines if line.startswith("[Error]")]) == 1
    errors = [line for line in unwrapped(lines) if line.startswith("[Error]")]  # wrapped, never cut
    # A long step is shortened in the middle: the build log just above has all of it.
    step = 'RUN echo "fleetgate-broken-step is faili…pose" >&2 && exit 3'
    assert errors == [
        f"[Error]    alice/bad#2: service main failed to build: step '{step}' exited with code 3"
    ]
    assert "! [remote rejected] master -> master (build failed: service main of alice/bad#2)" in result.stderr
    assert "build failed: build failed" not in result.stderr
    failed = release(gateway, "alice/bad#2")
    assert failed["error"] == f"build failed: service main: step '{step}' exited with code 3"


def test_a_push_to_a_pinned_fleet_says_it_was_built_but_not_deployed(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = fleet(gateway, "alice/pin", "generic-amd64")
    work = project(tmp_path, "dockerfile-plain")
    push(gateway, work, key, "alice/pin", "master")
    gateway.cli("fleet", "pin", "alice/pin", "alice/pin#1")
    (work / "more.txt").write_text("a second release\n")
    git("add", "more.txt", cwd=work)
    git("commit", "-qm", "more", cwd=work)
    result = push(gateway, work, key, "alice/pin", "master", flags=("-o", "plain"))
    assert_narrow(result.stderr, ("main",))
    lines = unwrapped(remote_lines(result.stderr))
    assert lines[-1] == (
        "[Warn]     Built alice/pin#2, not deployed: the fleet is pinned to #1 "
        "(to follow pushes again: fleetgate fleet pin alice/pin --latest)"
    )
    assert "Deployed" not in result.stderr
    assert [r["status"] for r in releases(gateway, "alice/pin")] == ["success", "success"]


def test_follow_tags_builds_master_once_and_keeps_the_tag(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/tagged", "generic-amd64")
    work = project(tmp_path, "dockerfile-plain")
    git("tag", "-a", "v1.0", "-m", "the first release", cwd=work)
    result = push(gateway, work, key, "alice/tagged", "master", flags=("--follow-tags",))
    assert "* [new branch]      master -> master" in result.stderr
    assert "* [new tag]         v1.0 -> v1.0" in result.stderr
    assert len(releases(gateway, "alice/tagged")) == 1
    clone = tmp_path / "clone"
    git("clone", "-q", gateway.url("alice/tagged"), str(clone), cwd=tmp_path, key=key, gw=gateway)
    assert git("describe", "--tags", cwd=clone).stdout.strip() == "v1.0"


@pytest.fixture
def ticking(tmp_path: Path, registry: str):
    """A gateway whose long steps say where they stand every 0.05 s of silence (4 s in production)."""
    gw = new_gateway(tmp_path, SERVE, {"FLEETGATE_REGISTRY": registry, "FLEETGATE_PROGRESS_INTERVAL": "0.05"})
    gw.start()
    yield gw
    gw.stop()


def test_long_steps_say_where_they_stand(ticking: Gateway, tmp_path: Path) -> None:
    key = fleet(ticking, "alice/slow", "generic-amd64")
    result = push(
        ticking, project(tmp_path, "quiet-steps"), key, "alice/slow", "master", flags=("-o", "nocache")
    )
    assert_narrow(result.stderr, ("main",))
    lines = remote_lines(result.stderr)
    # `RUN sleep 2` prints nothing: the push says the build goes on.
    assert any(re.fullmatch(r"\[Info\]     Still building main \(\d+s\)", line) for line in lines), lines
    # The 16 MB layer: bytes sent while it uploads, and the total at the end.
    uploading = [line for line in lines if line.startswith("[Info]     Uploading images (")]
    assert uploading and all(
        re.search(r"\): [\d.]+ [KMG]?B of [\d.]+ [KMG]?B sent", line) for line in uploading
    )
    done = next(line for line in lines if line.startswith("[Info]     Uploaded 1 image to "))
    assert re.search(r": 16\.\d\d MB sent", done), done
