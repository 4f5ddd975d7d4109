"""Pushing and fetching with the real git client over the real OpenSSH client."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..support import Gateway, git, make_repo, setup_fleet


def test_readme_flow_push_then_clone_and_fsck(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app", {"Dockerfile": "FROM busybox-fg\n", "src/app.sh": "echo hi\n"})
    git("remote", "add", "balena", gateway.url("alice/demo"), cwd=work)
    pushed = git("push", "balena", "master", cwd=work, key=key, gw=gateway)
    assert "* [new branch]      master -> master" in pushed.stderr

    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    clone = tmp_path / "clone"
    git("clone", "-q", gateway.url("alice/demo"), str(clone), cwd=tmp_path, key=key, gw=gateway)
    assert git("rev-parse", "HEAD", cwd=clone).stdout.strip() == head
    assert (clone / "src/app.sh").read_text() == "echo hi\n"

    repo = gateway.repo_for("alice/demo")
    fsck = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    assert not list((repo / "objects").glob("incoming-*"))


def test_main_is_master_and_unchanged_push_is_up_to_date(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app")
    git("remote", "add", "balena", gateway.url("alice/demo"), cwd=work)
    git("push", "balena", "master", cwd=work, key=key, gw=gateway)
    git("branch", "-m", "master", "main", cwd=work)
    (work / "more").write_text("x\n")
    git("commit", "-qam", "x", cwd=work, check=False)
    git("add", "more", cwd=work)
    git("commit", "-qm", "more", cwd=work)
    git("push", "balena", "main", cwd=work, key=key, gw=gateway)
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    listed = git("ls-remote", "balena", cwd=work, key=key, gw=gateway).stdout
    assert f"{head}\trefs/heads/master" in listed
    again = git("push", "balena", "main", cwd=work, key=key, gw=gateway)
    assert "Everything up-to-date" in again.stderr


def test_branch_to_master_and_force_push(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    first = make_repo(tmp_path / "one", {"a": "1\n"})
    git("push", gateway.url("alice/demo"), "master", cwd=first, key=key, gw=gateway)
    other = make_repo(tmp_path / "two", {"b": "2\n"})
    git("checkout", "-qb", "my-branch", cwd=other)
    refused = git(
        "push", gateway.url("alice/demo"), "my-branch:master", cwd=other, key=key, gw=gateway, check=False
    )
    assert refused.returncode == 1 and "[rejected]" in refused.stderr  # not a fast-forward: git refuses
    forced = git("push", "-f", gateway.url("alice/demo"), "my-branch:master", cwd=other, key=key, gw=gateway)
    assert "(forced update)" in forced.stderr


def test_other_branches_and_deletes_are_refused_with_a_hint(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app")
    url = gateway.url("alice/demo")
    git("push", url, "master", cwd=work, key=key, gw=gateway)
    git("branch", "feature", cwd=work)
    for spec in ("feature", ":master"):
        result = git("push", url, spec, cwd=work, key=key, gw=gateway, check=False)
        assert result.returncode == 1
        assert "[remote rejected]" in result.stderr
    feature = git("push", url, "feature", cwd=work, key=key, gw=gateway, check=False)
    assert "git push <remote> my-branch:master" in feature.stderr


def test_atomic_push_applies_nothing_when_one_ref_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app")
    url = gateway.url("alice/demo")
    git("branch", "feature", cwd=work)
    result = git("push", "--atomic", url, "master", "feature", cwd=work, key=key, gw=gateway, check=False)
    assert result.returncode == 1
    assert git("ls-remote", url, cwd=work, key=key, gw=gateway).stdout == ""


def test_push_options_are_accepted(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "app")
    result = git(
        "push",
        "-o",
        "nocache",
        "-o",
        "note=hello world",
        gateway.url("alice/demo"),
        "master",
        cwd=work,
        key=key,
        gw=gateway,
    )
    assert "[new branch]" in result.stderr


def test_pushes_to_ten_fleets_at_once(gateway: Gateway, tmp_path: Path) -> None:
    key = gateway.add_user("alice")
    procs = []
    for i in range(10):
        gateway.cli("fleet", "create", f"alice/f{i}", "--device-type", "generic-amd64")
        work = make_repo(tmp_path / f"w{i}", {"n": f"{i}\n"})
        env = dict(GIT_SSH_COMMAND=gateway.ssh_command(key))
        procs.append(
            subprocess.Popen(
                ["git", "push", gateway.url(f"alice/f{i}"), "master"],
                cwd=work,
                env={**__import__("os").environ, **env},
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for i in range(10):
        listed = git("ls-remote", gateway.url(f"alice/f{i}"), cwd=tmp_path, key=key, gw=gateway).stdout
        assert "refs/heads/master" in listed


def _many_files(path: Path, count: int) -> Path:
    return make_repo(path, {f"dir{i % 40}/file{i}.txt": f"{i}\n" * (i % 7 + 1) for i in range(count)})


def test_a_big_pack_is_unpacked_in_a_worker_process(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    work = _many_files(tmp_path / "big", 2500)
    git("push", gateway.url("alice/demo"), "master", cwd=work, key=key, gw=gateway)
    assert "unpacking 2542 objects in a worker process" in (gateway.home / "serve.log").read_text()
    repo = gateway.repo_for("alice/demo")
    fsck = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    clone = tmp_path / "clone"
    git("clone", "-q", gateway.url("alice/demo"), str(clone), cwd=tmp_path, key=key, gw=gateway)
    assert (clone / "dir3/file3.txt").read_text() == "3\n" * 4


def test_a_worker_rejection_reaches_the_pusher(gateway: Gateway, tmp_path: Path) -> None:
    gateway.stop()
    gateway.start({"FLEETGATE_MAX_TREE_DEPTH": "1"})
    key = setup_fleet(gateway)
    work = _many_files(tmp_path / "big", 2500)
    result = git("push", gateway.url("alice/demo"), "master", cwd=work, key=key, gw=gateway, check=False)
    assert result.returncode == 1
    assert "over the cap of 1" in result.stderr
    repo = gateway.repo_for("alice/demo")
    assert not list((repo / "objects/pack").glob("*.pack"))
    assert not list((repo / "objects").glob("incoming-*"))
