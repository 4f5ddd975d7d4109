"""Cross-check gitd.fsck against the real git: the same trees, commits and tags, the same verdicts.

Each object is written with `git hash-object --literally` (which checks nothing) into a temporary bare
repository; one `git fsck --strict` then reports every object it refuses as `error in <type> <sha>:
<msgId>: ...`. `fsck.badFilemode=error` makes git refuse bad modes as fleetgate does (git only
informs). Objects that are not the case under test point at real objects, so git reports nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fleetgate.gitd.fsck import ObjectRejected, check_commit, check_tag, check_tree

IDENT = b"A U Thor <author@example.com> 1700000000 +0100\n"


def _need_git() -> None:
    if shutil.which("git") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("git is required in CI")
        pytest.skip("git is not installed")


class Repo:
    """A bare repository driven by the git binary, with no user or system configuration."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        }
        subprocess.run(["git", "init", "-q", "--bare", str(path)], env=self.env, check=True, timeout=60)

    def git(self, *args: str, data: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "-C", str(self.path), *args],
            input=data,
            capture_output=True,
            env=self.env,
            check=check,
            timeout=60,
        )

    def write(self, kind: str, data: bytes) -> str:
        """Store `data` as an object of `kind` without any check; return its hex sha."""
        out = self.git("hash-object", "-t", kind, "--literally", "-w", "--stdin", data=data)
        return out.stdout.decode().strip()


# Real objects the cases point at: one blob, the empty tree, a commit.
def _entry(mode: bytes, name: bytes | str, sha: bytes) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    return mode + b" " + raw + b"\0" + sha


def _tree_cases(blob: bytes, empty: bytes) -> dict[str, tuple[bytes, bool]]:
    """Case id -> (tree body, whether git and fleetgate must both accept it)."""
    e = _entry
    return {
        "normal": (
            e(b"40000", ".github", empty)
            + e(b"100644", ".gitignore", blob)
            + e(b"100644", ".gitmodules", blob)
            + e(b"100644", "a-b", blob)
            + e(b"100755", "a.c", blob)
            + e(b"40000", "a", empty)
            + e(b"100644", "a0", blob)
            + e(b"100644", "caf\u00e9", blob)
            + e(b"120000", "link", blob)
            + e(b"160000", "sub", bytes(range(1, 21))),
            True,
        ),
        "git-not-dotgit": (e(b"100644", ".gitx", blob) + e(b"100644", ".git~1", blob), True),
        "file-dash-then-tree": (e(b"100644", "foo-bar", blob) + e(b"40000", "foo", empty), True),
        "unicode-not-dotgit": (e(b"100644", ".\u200cgitx", blob), True),
        "backslash-alone": (e(b"100644", "a\\b", blob), True),
        "symlinked-gitignore": (e(b"120000", ".gitignore", blob), True),
        "symlinked-gitmod~5": (e(b"120000", "gitmod~5", blob), True),
        "symlinked-gi7eba~42": (e(b"120000", "gi7eba~42", blob), True),
        "symlinked-gi7eb~42": (e(b"120000", "gi7eb~42", blob), False),
        "symlinked-backslash-gitmodules": (e(b"120000", "a\\.gitmodules", blob), False),
        "dotgit-invalid-utf8": (e(b"40000", b".git\xff", empty), False),
        "git~1-backslash": (e(b"100644", "x\\GIT~1\\y", blob), False),
        "dotgit": (e(b"40000", ".git", empty), False),
        "dotGIT": (e(b"40000", ".GIT", empty), False),
        "dotGit-space": (e(b"40000", ".Git ", empty), False),
        "dotgit-dot": (e(b"40000", ".git.", empty), False),
        "git~1": (e(b"40000", "git~1", empty), False),
        "GIT~1": (e(b"100644", "GIT~1", blob), False),
        "dotgit-zwnj": (e(b"40000", ".git\u200c", empty), False),
        "zwj-dotgit": (e(b"40000", "\u200d.gIt", empty), False),
        "dotgit-bom": (e(b"40000", ".g\ufeffit", empty), False),
        "dotgit-stream": (e(b"40000", ".git::$INDEX_ALLOCATION", empty), False),
        "backslash-dotgit": (e(b"100644", "a\\.git", blob), False),
        "dot": (e(b"40000", ".", empty), False),
        "dotdot": (e(b"40000", "..", empty), False),
        "slash": (e(b"100644", "a/b", blob), False),
        "null-sha": (e(b"100644", "a", bytes(20)), False),
        "zero-padded-mode": (e(b"040000", "a", empty), False),
        "bad-mode": (e(b"100666", "a", blob), False),
        "symlinked-gitmodules": (e(b"120000", ".gitmodules", blob), False),
        "symlinked-gitmod~1": (e(b"120000", "gitmod~1", blob), False),
        "symlinked-GI7EBA~1": (e(b"120000", "GI7EBA~1", blob), False),
        "symlinked-gitmodules-zwnj": (e(b"120000", ".gitmodules\u200c", blob), False),
        "duplicate": (e(b"100644", "a", blob) + e(b"100644", "a", blob), False),
        "file-and-tree": (e(b"100644", "a", blob) + e(b"40000", "a", empty), False),
        "file-and-tree-apart": (
            e(b"100644", "foo", blob) + e(b"100644", "foo-bar", blob) + e(b"40000", "foo", empty),
            False,
        ),
        "unsorted": (e(b"100644", "b", blob) + e(b"100644", "a", blob), False),
        "tree-before-dash": (e(b"40000", "foo", empty) + e(b"100644", "foo-bar", blob), False),
        "truncated-sha": (e(b"100644", "a", blob)[:-1], False),
    }


def _commit_cases(tree: bytes) -> dict[str, tuple[bytes, bool]]:
    head = b"tree " + tree + b"\n"
    return {
        "commit-normal": (head + b"author " + IDENT + b"committer " + IDENT + b"\nmsg\n", True),
        "commit-no-author": (head + b"committer " + IDENT + b"\nmsg\n", False),
        "commit-two-authors": (head + b"author " + IDENT * 2 + b"committer " + IDENT + b"\n", False),
        "commit-bad-email": (head + b"author A <a@b 1 +0000\ncommitter " + IDENT + b"\n", False),
        "commit-zero-padded-date": (head + b"author A <a@b> 01 +0000\ncommitter " + IDENT, False),
        "commit-bad-tz": (head + b"author A <a@b> 1 0000\ncommitter " + IDENT, False),
        "commit-short-tree": (b"tree " + tree[:39] + b"\nauthor " + IDENT + b"committer " + IDENT, False),
        "commit-odd-dates": (
            head + b"author A <a@b> \t0001 +0000\ncommitter A <a@b> 9223372036854775807 +0000\n",
            True,
        ),
        "commit-date-past-time_t": (
            head + b"author A <a@b> 9223372036854775808 +0000\ncommitter " + IDENT,
            False,
        ),
        "commit-huge-date": (head + b"author A <a@b> 1" + b"0" * 5000 + b" +0000\ncommitter " + IDENT, False),
        "commit-nul-in-header": (head + b"author A\0 <a@b> 1 +0000\ncommitter " + IDENT + b"\n", False),
    }


def _tag_cases(commit: bytes) -> dict[str, tuple[bytes, bool]]:
    head = b"object " + commit + b"\ntype commit\n"
    return {
        "tag-normal": (head + b"tag v1\ntagger " + IDENT + b"\nrelease\n", True),
        "tag-no-tagger": (head + b"tag v1\n\nold\n", True),
        "tag-bad-type": (b"object " + commit + b"\ntype commits\ntag v1\n", False),
        "tag-no-tag-line": (head + b"tagger " + IDENT, False),
        "tag-bad-tagger": (head + b"tag v1\ntagger <t@x> 1 +0000\n", False),
    }


_ERROR = re.compile(r"^error in (\w+) ([0-9a-f]{40}): (\w+)", re.MULTILINE)
# What git says when an object is too broken for its parser to hand it to fsck at all.
_UNPARSED = re.compile(r"^error: ([0-9a-f]{40}): object could not be parsed", re.MULTILINE)


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, bool, str, set[str]]]:
    """Case id -> (body, expected to pass, object type, git's msgIds for it: empty when git accepts)."""
    _need_git()
    repo = Repo(tmp_path_factory.mktemp("fsck") / "repo.git")
    blob_hex = repo.write("blob", b"hello\n")
    empty_hex = repo.write("tree", b"")
    commit_hex = repo.write(
        "commit", b"tree " + empty_hex.encode() + b"\nauthor " + IDENT + b"committer " + IDENT + b"\nm\n"
    )
    cases: dict[str, tuple[bytes, bool, str]] = {}
    for name, (body, ok) in _tree_cases(bytes.fromhex(blob_hex), bytes.fromhex(empty_hex)).items():
        cases[name] = (body, ok, "tree")
    for name, (body, ok) in _commit_cases(empty_hex.encode()).items():
        cases[name] = (body, ok, "commit")
    for name, (body, ok) in _tag_cases(commit_hex.encode()).items():
        cases[name] = (body, ok, "tag")
    shas = {name: repo.write(kind, body) for name, (body, _, kind) in cases.items()}
    fsck = repo.git("-c", "fsck.badFilemode=error", "fsck", "--strict", "--no-dangling", check=False)
    errors: dict[str, set[str]] = {}
    report = fsck.stderr.decode(errors="replace")
    for _, sha, msg_id in _ERROR.findall(report):
        errors.setdefault(sha, set()).add(msg_id)
    for sha in _UNPARSED.findall(report):
        errors.setdefault(sha, set()).add("unparsed")
    return {name: (body, ok, kind, errors.get(shas[name], set())) for name, (body, ok, kind) in cases.items()}


_CHECKS = {"tree": check_tree, "commit": check_commit, "tag": check_tag}
_CASE_IDS = [
    *_tree_cases(bytes(20), bytes(20)),
    *_commit_cases(b"0" * 40),
    *_tag_cases(b"0" * 40),
]


@pytest.mark.parametrize("case", _CASE_IDS)
def test_same_verdict_as_git(case: str, verdicts: dict[str, tuple[bytes, bool, str, set[str]]]) -> None:
    body, ok, kind, git_errors = verdicts[case]
    check = _CHECKS[kind]
    if ok:
        assert git_errors == set(), f"git refused {case}: {git_errors}"
        check(body)
    else:
        assert git_errors, f"git accepted {case}"
        with pytest.raises(ObjectRejected):
            check(body)
