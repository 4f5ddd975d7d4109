"""Tags are kept as pushed and never built: `git push --follow-tags` works and a clone gets them (issue 19).

Before, an annotated tag made the whole push fail: its tip is a tag object, and the check that a new
tip is a commit refused the pack, master with it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..support import PLAIN_SERVE, Gateway, git, make_repo, new_gateway, remote_lines, setup_fleet


def _commit(work: Path, name: str) -> str:
    (work / name).write_text(f"{name}\n")
    git("add", name, cwd=work)
    git("commit", "-qm", name, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).stdout.strip()


def test_follow_tags_pushes_master_and_the_annotated_tag_and_a_clone_gets_it(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app")
    url = gateway.url("alice/demo")
    git("tag", "-a", "v1.0", "-m", "first release", cwd=work)
    pushed = git("push", "--follow-tags", url, "master", cwd=work, key=key, gw=gateway)
    assert "* [new branch]      master -> master" in pushed.stderr
    assert "* [new tag]         v1.0 -> v1.0" in pushed.stderr

    listed = git("ls-remote", url, cwd=work, key=key, gw=gateway).stdout
    tag_object = git("rev-parse", "v1.0", cwd=work).stdout.strip()
    assert f"{tag_object}\trefs/tags/v1.0" in listed

    clone = tmp_path / "clone"
    git("clone", "-q", url, str(clone), cwd=tmp_path, key=key, gw=gateway)
    assert git("tag", "-l", cwd=clone).stdout.split() == ["v1.0"]
    assert git("cat-file", "-t", "v1.0", cwd=clone).stdout.strip() == "tag"
    repo = gateway.repo_for("alice/demo")
    fsck = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr

    # The fleet advertises its tags to a push: the same push again has nothing to send.
    again = git("push", "--follow-tags", url, "master", cwd=work, key=key, gw=gateway)
    assert "Everything up-to-date" in again.stderr


def test_a_tag_alone_a_lightweight_tag_a_moved_tag_and_a_deleted_tag(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app")
    url = gateway.url("alice/demo")
    git("push", url, "master", cwd=work, key=key, gw=gateway)
    ahead = _commit(work, "not-deployed")  # a tag may name a commit master does not have
    git("tag", "light", cwd=work)
    blob = git("rev-parse", "HEAD:not-deployed", cwd=work).stdout.strip()
    git("tag", "-a", "on-a-blob", "-m", "git lets a tag name any object", blob, cwd=work)
    git("push", url, "light", "on-a-blob", cwd=work, key=key, gw=gateway)
    listed = git("ls-remote", url, cwd=work, key=key, gw=gateway).stdout
    assert f"{ahead}\trefs/tags/light" in listed and "refs/tags/on-a-blob" in listed
    master = git("rev-parse", "HEAD~1", cwd=work).stdout.strip()
    assert f"{master}\trefs/heads/master" in listed  # a tag never moves master

    moved = _commit(work, "again")
    git("tag", "-f", "light", cwd=work)
    git("push", "-f", url, "light", cwd=work, key=key, gw=gateway)
    assert f"{moved}\trefs/tags/light" in git("ls-remote", url, cwd=work, key=key, gw=gateway).stdout

    git("push", url, ":refs/tags/light", cwd=work, key=key, gw=gateway)
    assert "refs/tags/light" not in git("ls-remote", url, cwd=work, key=key, gw=gateway).stdout


def test_a_tag_next_to_a_refused_branch_is_kept_unless_the_push_is_atomic(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app")
    url = gateway.url("alice/demo")
    git("tag", "-a", "v2", "-m", "two", cwd=work)
    git("branch", "feature", cwd=work)
    atomic = git("push", "--atomic", url, "feature", "v2", cwd=work, key=key, gw=gateway, check=False)
    assert atomic.returncode == 1
    assert git("ls-remote", url, cwd=work, key=key, gw=gateway).stdout == ""
    mixed = git("push", url, "feature", "v2", cwd=work, key=key, gw=gateway, check=False)
    assert mixed.returncode == 1 and "feature -> feature (only master deploys" in mixed.stderr
    assert "refs/tags/v2" in git("ls-remote", url, cwd=work, key=key, gw=gateway).stdout


def _random_repo(path: Path, megabytes: int) -> Path:
    return make_repo(path, {f"blob{i}.bin": os.urandom(1 << 20).hex()[: 1 << 20] for i in range(megabytes)})


def test_a_long_receive_says_how_many_bytes_arrived(tmp_path: Path) -> None:
    # A tiny interval stands in for a pack that takes minutes: the lines, not the wall time, are tested.
    gateway = new_gateway(tmp_path, PLAIN_SERVE, {"FLEETGATE_PROGRESS_INTERVAL": "0.01"})
    gateway.start()
    try:
        key = setup_fleet(gateway)
        work = _random_repo(tmp_path / "big", 8)
        url = gateway.url("alice/demo")
        # --progress: git asks for quiet when its stderr is no terminal, as here, unless told otherwise.
        lines = remote_lines(git("push", "--progress", url, "master", cwd=work, key=key, gw=gateway).stderr)
        progress = [line for line in lines if line.startswith("Pack: ")]
        assert progress and all(line.endswith("s)") and " received so far (" in line for line in progress), (
            lines
        )
        others = [line for line in lines[:-1] if not line.startswith("Pack: ")]
        assert all(line.startswith("Waiting for the pack (") for line in others), lines  # git compressing
        assert lines[-1].startswith("Pack received and checked: ") and " MB in " in lines[-1], lines
        assert all(len("remote: " + line) <= 100 for line in lines)

        # Without a terminal or --progress (or with -q) git asks for quiet: no progress lines, as git's own.
        (work / "big.bin").write_text(os.urandom(1 << 20).hex())
        git("add", "big.bin", cwd=work)
        git("commit", "-qm", "big", cwd=work)
        quiet = git("push", url, "master", cwd=work, key=key, gw=gateway)
        assert remote_lines(quiet.stderr) == []
    finally:
        gateway.stop()
