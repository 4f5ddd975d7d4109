"""What a hostile or broken client sends, replayed against a real gateway over real SSH."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from dulwich.objects import Blob, Tree

from ..support import Gateway, git, make_repo, setup_fleet
from .rawpush import RawPush, commit_of, delta_bomb, pack_objects, raw_tree

ZERO = "0" * 40


def ssh(gw: Gateway, key: Path, command: str, login: str = "git") -> subprocess.CompletedProcess:
    return subprocess.run(
        gw.ssh_argv(key, command, login), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )


def raw(gw: Gateway, key: Path, slug: str = "alice/demo") -> RawPush:
    return RawPush(gw.ssh_command(key), gw.port, f"/{slug}.git")


def push_objects(gw: Gateway, key: Path, objects: list, tip: str, ref: str = "refs/heads/master"):
    client = raw(gw, key)
    try:
        client.advertisement()
        client.send_commands([(ZERO, tip, ref)])
        client.send(pack_objects(objects))
        return client.report()
    finally:
        client.close()


def assert_untouched(gw: Gateway, slug: str = "alice/demo") -> None:
    repo = gw.repo_for(slug)
    assert not (repo / "refs/heads/master").exists()
    assert not list((repo / "objects/pack").glob("*.pack"))
    assert not list((repo / "objects").glob("incoming-*"))


# --- authentication -------------------------------------------------------------------------------


def test_unknown_key_is_refused(gateway: Gateway) -> None:
    setup_fleet(gateway)
    stranger = gateway.new_key("stranger")
    result = ssh(gateway, stranger, "git-receive-pack '/alice/demo.git'")
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_wrong_login_name_is_refused(gateway: Gateway) -> None:
    key = setup_fleet(gateway)
    gateway.add_user("bob")
    assert ssh(gateway, key, "git-upload-pack '/alice/demo.git'", login="bob").returncode == 255
    assert ssh(gateway, key, "git-upload-pack '/alice/demo.git'", login="root").returncode == 255
    # The key owner's own name works as the login too.
    named = git(
        "ls-remote",
        f"ssh://alice@127.0.0.1:{gateway.port}/alice/demo.git",
        cwd=gateway.tmp,
        key=key,
        gw=gateway,
        login="alice",
    )
    assert named.returncode == 0


def test_key_offered_but_not_signed_gives_no_identity(gateway: Gateway) -> None:
    """Offer alice's public key without its private half, then sign with bob's: bob is not alice."""
    setup_fleet(gateway)
    bob = gateway.add_user("bob")
    offered_only = gateway.tmp / "alice-offer"
    (offered_only.with_suffix(".pub")).write_bytes(gateway.keys["alice"].with_suffix(".pub").read_bytes())
    argv = [
        "ssh",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
        "-i",
        str(offered_only.with_suffix(".pub")),
        "-i",
        str(bob),
        "-p",
        str(gateway.port),
        "git@127.0.0.1",
        "git-receive-pack '/alice/demo.git'",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert "fleet not found or you do not have access" in result.stdout + result.stderr


# --- commands and paths ---------------------------------------------------------------------------


GREETING = "Hi alice! fleetgate does not provide shell access. Push with: git push balena master"
VERBS = (
    "help, whoami, fleets, fleet, releases, release, logs, rollback, pin, deploy, env, devices, device, "
    "servers, server-status, members, keys, token, login"
)


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("", GREETING + " (or see: ssh -p {port} git@127.0.0.1 help)"),
        (
            "git-receive-pack '/alice/demo.git' extra",
            GREETING + " (or see: ssh -p {port} git@127.0.0.1 help)",
        ),
        ("git-receive-pack '--help'", GREETING + " (or see: ssh -p {port} git@127.0.0.1 help)"),
        # Anything else is a user command (gitd/user_commands.py), and none of these is one.
        ("bash", "fleetgate: unknown command 'bash'; the commands are: " + VERBS),
        ("sh -c 'id'", "fleetgate: unknown command 'sh'; the commands are: " + VERBS),
        (
            "git-upload-archive '/alice/demo.git'",
            "fleetgate: unknown command 'git-upload-archive'; the commands are: " + VERBS,
        ),
        ("scp -t /tmp", "fleetgate: unknown command 'scp'; the commands are: " + VERBS),
        ("ls /", "fleetgate: unknown command 'ls'; the commands are: " + VERBS),
    ],
)
def test_refused_commands_get_one_friendly_line(gateway: Gateway, command: str, said: str) -> None:
    key = setup_fleet(gateway)
    result = ssh(gateway, key, command)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [said.format(port=gateway.port)]


@pytest.mark.parametrize(
    "path",
    [
        "/alice/../alice/demo.git",
        "/../../etc/passwd",
        "/alice/demo.git; id",
        "/alice/$(id).git",
        "/alice/demo/../x",
        "/ALICE/demo.git",
        "/alice/demo\\x.git",
        "alice//demo.git",
    ],
)
def test_traversal_and_injection_in_the_path_are_refused(gateway: Gateway, path: str) -> None:
    key = setup_fleet(gateway)
    result = ssh(gateway, key, f"git-receive-pack '{path}'")
    assert result.returncode == 1
    assert "uid=" not in result.stdout + result.stderr


def test_no_such_fleet_and_not_a_member_read_the_same(gateway: Gateway, tmp_path: Path) -> None:
    setup_fleet(gateway)
    bob = gateway.add_user("bob")
    missing = ssh(gateway, bob, "git-receive-pack '/alice/nothing.git'")
    forbidden = ssh(gateway, bob, "git-receive-pack '/alice/demo.git'")
    assert missing.returncode == forbidden.returncode == 1
    assert missing.stdout[4:] == forbidden.stdout[4:]
    work = make_repo(tmp_path / "w")
    pushed = git("push", gateway.url("alice/demo"), "master", cwd=work, key=bob, gw=gateway, check=False)
    assert pushed.returncode != 0
    assert "fatal: remote error: fleet not found or you do not have access" in pushed.stderr
    gateway.cli("fleet", "member", "add", "alice/demo", "bob")
    git("push", gateway.url("alice/demo"), "master", cwd=work, key=bob, gw=gateway)


# --- the pack and its objects ---------------------------------------------------------------------


def test_ref_to_a_missing_object_is_refused(gateway: Gateway) -> None:
    key = setup_fleet(gateway)
    blob = Blob.from_string(b"x")
    tree = raw_tree([(b"100644", b"a", blob.id)])
    commit = commit_of(tree)
    report = push_objects(gateway, key, [commit, tree], commit.id.decode())  # the blob never arrives
    assert report.unpack.startswith("missing object")
    assert report.refs["refs/heads/master"].startswith("missing object")
    assert_untouched(gateway)


def test_branch_pointing_at_a_blob_is_refused(gateway: Gateway) -> None:
    key = setup_fleet(gateway)
    blob = Blob.from_string(b"not a commit")
    report = push_objects(gateway, key, [blob], blob.id.decode())
    assert "is not a commit" in report.unpack
    assert_untouched(gateway)


@pytest.mark.parametrize("name", [b".git", b".GIT", b"git~1", ".git\u200c".encode(), b".Git ", b".git."])
def test_dotgit_look_alikes_in_a_tree_are_refused(gateway: Gateway, name: bytes) -> None:
    key = setup_fleet(gateway)
    blob = Blob.from_string(b"[core]\n")
    tree = raw_tree([(b"100644", name, blob.id)])
    commit = commit_of(tree)
    report = push_objects(gateway, key, [commit, tree, blob], commit.id.decode())
    assert report.unpack.startswith("object ") and "rejected" in report.unpack
    assert_untouched(gateway)


def test_oversized_object_is_refused_from_its_header(gateway: Gateway) -> None:
    gateway.stop()
    gateway.start({"FLEETGATE_MAX_OBJECT_BYTES": str(1024 * 1024)})
    key = setup_fleet(gateway)
    blob = Blob.from_string(b"a" * (2 * 1024 * 1024))
    tree = raw_tree([(b"100644", b"big", blob.id)])
    commit = commit_of(tree)
    report = push_objects(gateway, key, [commit, tree, blob], commit.id.decode())
    assert "over the cap of 1048576 bytes" in report.unpack
    assert_untouched(gateway)


def test_delta_expanding_far_beyond_its_pack_size_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    base_data = (b"0123456789abcdef" * 4096)[:0x10000]
    work = make_repo(tmp_path / "w", {"base": base_data.decode()})
    git("push", gateway.url("alice/demo"), "master", cwd=work, key=key, gw=gateway)
    base = Blob.from_string(base_data)
    client = raw(gateway, key)
    try:
        refs = client.advertisement()
        client.send_commands([(refs["refs/heads/master"], "1" * 40, "refs/heads/master")])
        bomb = delta_bomb(base, 3200)  # 200 MiB once applied, a few KB on the wire
        assert len(bomb) < 70_000
        client.send(bomb)
        report = client.report()
    finally:
        client.close()
    assert "over the cap of 104857600 bytes" in report.unpack


def test_oversized_pack_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    gateway.stop()
    gateway.start({"FLEETGATE_MAX_PACK_BYTES": "200000"})
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "w", {f"f{i}": os.urandom(3000).hex() for i in range(100)})
    result = git("push", gateway.url("alice/demo"), "master", cwd=work, key=key, gw=gateway, check=False)
    assert result.returncode != 0
    assert "pack is larger than the cap of 200000 bytes" in result.stderr
    assert_untouched(gateway)


def test_corrupt_pack_is_refused_and_leaves_nothing(gateway: Gateway) -> None:
    key = setup_fleet(gateway)
    blob = Blob.from_string(b"x")
    tree = raw_tree([(b"100644", b"a", blob.id)])
    commit = commit_of(tree)
    data = bytearray(pack_objects([commit, tree, blob]))
    data[-25] ^= 0xFF
    client = raw(gateway, key)
    try:
        client.advertisement()
        client.send_commands([(ZERO, commit.id.decode(), "refs/heads/master")])
        client.send(bytes(data))
        report = client.report()
    finally:
        client.close()
    assert report.unpack != "ok"
    assert_untouched(gateway)


# --- refs, locks and crashes ----------------------------------------------------------------------


def test_lost_compare_and_swap_is_reported_truthfully(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    work = make_repo(tmp_path / "w")
    git("push", gateway.url("alice/demo"), "master", cwd=work, key=key, gw=gateway)
    first = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    tree = Tree()
    commit = commit_of(tree, [first.encode()])
    client = raw(gateway, key)
    try:
        client.advertisement()
        # Another writer moves master after the advertisement (as a second node or the CLI would).
        master = gateway.repo_for("alice/demo") / "refs/heads/master"
        master.write_text("f" * 40 + "\n")
        client.send_commands([(first, commit.id.decode(), "refs/heads/master")])
        client.send(pack_objects([commit, tree]))
        report = client.report()
    finally:
        client.close()
    assert report.unpack == "ok"
    assert report.refs["refs/heads/master"].startswith("stale info")
    assert master.read_text().strip() == "f" * 40


def test_two_pushes_to_one_fleet_wait_in_line_and_the_newest_wins(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    holder = raw(gateway, key)
    holder.advertisement()  # holds the fleet's lock until it finishes
    works = [make_repo(tmp_path / f"w{i}", {"n": f"{i}\n"}) for i in range(2)]
    env = {**os.environ, "GIT_SSH_COMMAND": gateway.ssh_command(key)}
    waiting = []
    for work in works:
        waiting.append(
            subprocess.Popen(
                ["git", "push", "-f", gateway.url("alice/demo"), "master"],
                cwd=work,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        time.sleep(1.0)
    holder.send(b"0000")
    holder.close()
    older_err = waiting[0].communicate(timeout=60)[1]
    newer_err = waiting[1].communicate(timeout=60)[1]
    assert "waiting (position 1)" in older_err
    assert "superseded by a newer push to alice/demo" in older_err
    assert waiting[1].returncode == 0, newer_err
    head = git("rev-parse", "HEAD", cwd=works[1]).stdout.strip()
    assert (gateway.repo_for("alice/demo") / "refs/heads/master").read_text().strip() == head


def test_revoking_the_key_during_a_push_stops_it(gateway: Gateway) -> None:
    key = setup_fleet(gateway)
    tree = Tree()
    commit = commit_of(tree)
    client = raw(gateway, key)
    try:
        client.advertisement()
        client.send_commands([(ZERO, commit.id.decode(), "refs/heads/master")])
        fingerprint = json.loads(gateway.cli("key", "list", "alice", "--json").stdout)[0]["fingerprint"]
        gateway.cli("key", "remove", "alice", fingerprint, "--yes")
        client.send(pack_objects([commit, tree]))
        report = client.report()
    finally:
        client.close()
    assert report.refs["refs/heads/master"] == "access revoked during the push"
    assert_untouched(gateway)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_kill_9_during_a_push_then_a_clean_restart(gateway: Gateway, tmp_path: Path) -> None:
    key = setup_fleet(gateway)
    blob = Blob.from_string(os.urandom(500_000))
    tree = raw_tree([(b"100644", b"data", blob.id)])
    commit = commit_of(tree)
    pack = pack_objects([commit, tree, blob])
    client = raw(gateway, key)
    client.advertisement()
    client.send_commands([(ZERO, commit.id.decode(), "refs/heads/master")])
    client.send(pack[: len(pack) // 2], close=False)
    repo = gateway.repo_for("alice/demo")
    deadline = time.monotonic() + 10
    while not list((repo / "objects").glob("incoming-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((repo / "objects").glob("incoming-*"))
    workers = _children(gateway.proc.pid)
    assert workers  # the unpack pool
    gateway.stop(signal.SIGKILL)
    client.close()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # no orphaned workers
    gateway.start()
    assert not list((repo / "objects").glob("incoming-*"))
    work = make_repo(tmp_path / "w")
    git("push", gateway.url("alice/demo"), "master", cwd=work, key=key, gw=gateway)
    fsck = subprocess.run(["git", "--git-dir", str(repo), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        (("-o", "KexAlgorithms=diffie-hellman-group14-sha1"), "no matching key exchange method found"),
        (("-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1"), "no matching MAC found"),
    ],
    ids=["sha1-kex", "sha1-mac"],
)
def test_sha1_is_not_offered(gateway: Gateway, options: tuple[str, ...], refused: str) -> None:
    key = gateway.add_user("alice")
    argv = gateway.ssh_argv(key, "whoami")
    # OpenSSH takes an option's first value: these come before the helper's own (LogLevel=ERROR hides why).
    result = subprocess.run(
        [argv[0], "-o", "LogLevel=INFO", *options, *argv[1:]],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 255 and refused in result.stderr, result.stderr


def test_an_rsa_key_logs_in_with_sha2_and_not_with_sha1(gateway: Gateway) -> None:
    gateway.cli("user", "add", "rita")
    key = gateway.tmp / "key-rita-rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", str(key)], check=True)
    gateway.cli("key", "add", "rita", f"{key}.pub")
    argv = gateway.ssh_argv(key, "whoami")
    assert subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.startswith("rita")
    sha1 = [argv[0], "-o", "PubkeyAcceptedAlgorithms=ssh-rsa", *argv[1:]]
    refused = subprocess.run(sha1, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert refused.returncode == 255 and "Permission denied (publickey)" in refused.stderr, refused.stderr
