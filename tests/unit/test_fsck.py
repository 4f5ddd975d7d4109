"""git fsck's tree, commit and tag rules (DESIGN.md §2.2), over raw object bodies built here."""

from __future__ import annotations

import pytest
from fleetgate.gitd.dotgit import is_dotgit, is_dotgitmodules
from fleetgate.gitd.fsck import (
    CommitLinks,
    ObjectRejected,
    TreeEntry,
    TreeRejected,
    check_commit,
    check_tag,
    check_tree,
)

SHA1 = bytes(range(1, 21))
SHA2 = bytes(range(21, 41))


def entry(mode: bytes, name: bytes | str, sha: bytes = SHA1) -> bytes:
    """One raw tree entry: `<mode> <name>\\0<20 bytes>`."""
    raw_name = name.encode() if isinstance(name, str) else name
    return mode + b" " + raw_name + b"\0" + sha


def tree(*entries: bytes) -> bytes:
    return b"".join(entries)


# --- well-formed trees -------------------------------------------------------------------------

NORMAL = tree(
    entry(b"40000", ".github", SHA2),
    entry(b"100644", ".gitignore"),
    entry(b"100644", ".gitmodules"),
    entry(b"100644", "a-b"),
    entry(b"100755", "a.c"),
    entry(b"40000", "a", SHA2),  # a tree sorts as "a/": after "a.c", before "a0"
    entry(b"100644", "a0"),
    entry(b"120000", "link"),
    entry(b"160000", "sub", SHA2),
)


def test_normal_tree_passes_with_exact_entries() -> None:
    assert check_tree(NORMAL) == [
        TreeEntry(0o40000, b".github", SHA2),
        TreeEntry(0o100644, b".gitignore", SHA1),
        TreeEntry(0o100644, b".gitmodules", SHA1),
        TreeEntry(0o100644, b"a-b", SHA1),
        TreeEntry(0o100755, b"a.c", SHA1),
        TreeEntry(0o40000, b"a", SHA2),
        TreeEntry(0o100644, b"a0", SHA1),
        TreeEntry(0o120000, b"link", SHA1),
        TreeEntry(0o160000, b"sub", SHA2),
    ]


def test_entry_fields() -> None:
    (only,) = check_tree(entry(b"40000", "src", SHA2))
    assert (only.mode, only.name, only.sha) == (0o40000, b"src", SHA2)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"", []),
        (entry(b"100664", "old-mode"), [b"old-mode"]),  # early git wrote it; git fsck only informs
        (entry(b"100644", "name with spaces"), [b"name with spaces"]),
        (entry(b"100644", "caf\u00e9"), ["caf\u00e9".encode()]),
        (entry(b"100644", "\u200cnot-git"), ["\u200cnot-git".encode()]),
        (entry(b"100644", b"\xff\xfe"), [b"\xff\xfe"]),  # not UTF-8: fine, git stores bytes
        (entry(b"100644", "git"), [b"git"]),
        (entry(b"100644", ".gitx"), [b".gitx"]),
        (entry(b"100644", ".git-foo"), [b".git-foo"]),
        (entry(b"100644", ".git~1"), [b".git~1"]),
        (entry(b"100644", "git~2"), [b"git~2"]),
        (entry(b"100644", "git~10"), [b"git~10"]),
        (entry(b"100644", "a.git"), [b"a.git"]),
        (entry(b"40000", "gits"), [b"gits"]),
        (entry(b"100644", "...") + entry(b"100644", ".a"), [b"...", b".a"]),
        (entry(b"100644", "a\\b"), [b"a\\b"]),  # a backslash alone is allowed
        (entry(b"100644", "g.git"), [b"g.git"]),
        (entry(b"100644", ".\u200cgitx"), [".\u200cgitx".encode()]),
        # .gitmodules is only refused as a symlink; other dotfiles may be symlinks (git only informs)
        (entry(b"100644", ".gitmodules"), [b".gitmodules"]),
        (entry(b"40000", ".gitmodules"), [b".gitmodules"]),
        (entry(b"120000", ".gitignore"), [b".gitignore"]),
        (entry(b"120000", ".gitattributes"), [b".gitattributes"]),
        (entry(b"120000", ".mailmap"), [b".mailmap"]),
        (entry(b"120000", "gitmod~5"), [b"gitmod~5"]),
        (entry(b"120000", "gitmodules"), [b"gitmodules"]),
        (entry(b"120000", ".gitmodulesx"), [b".gitmodulesx"]),
        (entry(b"120000", "gi7eba~0"), [b"gi7eba~0"]),
        (entry(b"120000", "gi7ebb~1"), [b"gi7ebb~1"]),
        # sort order: bytes, trees as name + '/'
        (entry(b"100644", "a") + entry(b"100644", "b"), [b"a", b"b"]),
        (entry(b"100644", "A") + entry(b"100644", "a"), [b"A", b"a"]),
        (entry(b"100644", "a") + entry(b"100644", "a.txt"), [b"a", b"a.txt"]),
        (entry(b"100644", "foo.c") + entry(b"40000", "foo"), [b"foo.c", b"foo"]),
        (entry(b"40000", "foo") + entry(b"100644", "foo0"), [b"foo", b"foo0"]),
        (entry(b"160000", "foo") + entry(b"100644", "foo.c"), [b"foo", b"foo.c"]),  # submodule: no '/'
        (entry(b"100644", "foo-bar") + entry(b"40000", "foo"), [b"foo-bar", b"foo"]),
    ],
)
def test_accepted(data: bytes, names: list[bytes]) -> None:
    assert [e.name for e in check_tree(data)] == names


# --- refused trees -----------------------------------------------------------------------------

LOOK_ALIKE = "is '.git' or a look-alike of it (case, NTFS short name or stream, HFS+ ignorable)"
SYMLINKED_GITMODULES = "is '.gitmodules' (or a look-alike) and a symlink"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # malformed
        (b"100644", "tree entry at byte 0: truncated (no space after the mode)"),
        (b"100644 name", "tree entry at byte 0: truncated (no NUL after the name)"),
        (b"100644 name\0" + SHA1[:19], "tree entry 'name': sha has 19 bytes, not 20"),
        (b"100644 name\0", "tree entry 'name': sha has 0 bytes, not 20"),
        (entry(b"100644", "ok") + b"100644 x", "tree entry at byte 30: truncated (no NUL after the name)"),
        (entry(b"100644", "ok") + b"\0", "tree entry at byte 30: truncated (no space after the mode)"),
        (entry(b"100644", ""), "tree entry at byte 0: empty name"),
        (entry(b"", "x"), "tree entry at byte 0: empty mode"),
        (entry(b"0100644", "x"), "tree entry at byte 0: mode '0100644' is zero-padded"),
        (entry(b"040000", "x"), "tree entry at byte 0: mode '040000' is zero-padded"),
        (entry(b"0", "x"), "tree entry at byte 0: mode '0' is zero-padded"),
        (entry(b"100648", "x"), "tree entry at byte 0: mode '100648' is not octal"),
        (entry(b"10064a", "x"), "tree entry at byte 0: mode '10064a' is not octal"),
        (entry(b"-100644", "x"), "tree entry at byte 0: mode '-100644' is not octal"),
        (b" 100644 x\0" + SHA1, "tree entry at byte 0: empty mode"),
        (
            entry(b"100666", "x"),
            "tree entry at byte 0: bad mode '100666' (allowed: 100644, 100755, 120000, 40000, 160000)",
        ),
        (
            entry(b"100600", "x"),
            "tree entry at byte 0: bad mode '100600' (allowed: 100644, 100755, 120000, 40000, 160000)",
        ),
        (
            entry(b"40755", "x"),
            "tree entry at byte 0: bad mode '40755' (allowed: 100644, 100755, 120000, 40000, 160000)",
        ),
        (
            entry(b"1006440", "x"),
            "tree entry at byte 0: bad mode '1006440' (allowed: 100644, 100755, 120000, 40000, 160000)",
        ),
        (entry(b"100644", "x", bytes(20)), "tree entry 'x' points to the null sha"),
        # bad names
        (entry(b"100644", "."), "tree entry '.' is not a valid name"),
        (entry(b"40000", ".."), "tree entry '..' is not a valid name"),
        (entry(b"100644", "a/b"), "tree entry 'a/b' contains '/'"),
        (entry(b"100644", "/etc"), "tree entry '/etc' contains '/'"),
        (entry(b"40000", ".git/hooks"), "tree entry '.git/hooks' contains '/'"),
        # .git and its look-alikes
        (entry(b"40000", ".git"), f"tree entry '.git' {LOOK_ALIKE}"),
        (entry(b"100644", ".git"), f"tree entry '.git' {LOOK_ALIKE}"),
        (entry(b"40000", ".GIT"), f"tree entry '.GIT' {LOOK_ALIKE}"),
        (entry(b"40000", ".Git"), f"tree entry '.Git' {LOOK_ALIKE}"),
        (entry(b"40000", ".gIt"), f"tree entry '.gIt' {LOOK_ALIKE}"),
        (entry(b"40000", ".git "), f"tree entry '.git ' {LOOK_ALIKE}"),
        (entry(b"40000", ".Git "), f"tree entry '.Git ' {LOOK_ALIKE}"),
        (entry(b"40000", ".git."), f"tree entry '.git.' {LOOK_ALIKE}"),
        (entry(b"40000", ".git . ."), f"tree entry '.git . .' {LOOK_ALIKE}"),
        (entry(b"40000", "git~1"), f"tree entry 'git~1' {LOOK_ALIKE}"),
        (entry(b"40000", "GIT~1"), f"tree entry 'GIT~1' {LOOK_ALIKE}"),
        (entry(b"40000", "Git~1."), f"tree entry 'Git~1.' {LOOK_ALIKE}"),
        (entry(b"40000", ".git::$INDEX_ALLOCATION"), f"tree entry '.git::$INDEX_ALLOCATION' {LOOK_ALIKE}"),
        (entry(b"40000", ".GIT:stream"), f"tree entry '.GIT:stream' {LOOK_ALIKE}"),
        (entry(b"40000", "git~1::$INDEX_ALLOCATION"), f"tree entry 'git~1::$INDEX_ALLOCATION' {LOOK_ALIKE}"),
        (entry(b"40000", ".git\u200c"), f"tree entry '.git\\u200c' {LOOK_ALIKE}"),
        (entry(b"40000", "\u200c.git"), f"tree entry '\\u200c.git' {LOOK_ALIKE}"),
        (entry(b"40000", ".g\u200dit"), f"tree entry '.g\\u200dit' {LOOK_ALIKE}"),
        (entry(b"40000", ".gi\u200et"), f"tree entry '.gi\\u200et' {LOOK_ALIKE}"),
        (entry(b"40000", ".\u200fgit"), f"tree entry '.\\u200fgit' {LOOK_ALIKE}"),
        (entry(b"40000", ".GIT\u202a"), f"tree entry '.GIT\\u202a' {LOOK_ALIKE}"),
        (entry(b"40000", ".git\u202e"), f"tree entry '.git\\u202e' {LOOK_ALIKE}"),
        (entry(b"40000", ".git\u206a"), f"tree entry '.git\\u206a' {LOOK_ALIKE}"),
        (entry(b"40000", ".git\u206f"), f"tree entry '.git\\u206f' {LOOK_ALIKE}"),
        (entry(b"40000", "\ufeff.Git\ufeff"), f"tree entry '\\ufeff.Git\\ufeff' {LOOK_ALIKE}"),
        (
            entry(b"40000", ".\u200c\u200dg\u202ai\u206et"),
            f"tree entry '.\\u200c\\u200dg\\u202ai\\u206et' {LOOK_ALIKE}",
        ),
        # git stops at invalid UTF-8 (and at U+FFFF, which its decoder refuses): the name ends there
        (entry(b"40000", b".git\xff"), f"tree entry '.git\\\\xff' {LOOK_ALIKE}"),
        (entry(b"40000", ".git\uffff"), f"tree entry '.git\\uffff' {LOOK_ALIKE}"),
        # '\' is a directory separator on Windows: each part is checked
        (entry(b"40000", "a\\.git"), f"tree entry 'a\\\\.git' {LOOK_ALIKE}"),
        (entry(b"40000", "a\\b\\GIT~1"), f"tree entry 'a\\\\b\\\\GIT~1' {LOOK_ALIKE}"),
        (entry(b"40000", ".git\\config"), f"tree entry '.git\\\\config' {LOOK_ALIKE}"),
        (entry(b"100644", "git~1\\hooks"), f"tree entry 'git~1\\\\hooks' {LOOK_ALIKE}"),
        # a symlinked .gitmodules and its look-alikes
        (entry(b"120000", ".gitmodules"), f"tree entry '.gitmodules' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", ".GITMODULES"), f"tree entry '.GITMODULES' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", ".gitmodules "), f"tree entry '.gitmodules ' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", ".gitmodules."), f"tree entry '.gitmodules.' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", ".gitmodules::$DATA"), f"tree entry '.gitmodules::$DATA' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "gitmod~1"), f"tree entry 'gitmod~1' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "GITMOD~4"), f"tree entry 'GITMOD~4' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "gi7eba~1"), f"tree entry 'gi7eba~1' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "GI7EBA~9"), f"tree entry 'GI7EBA~9' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "gi7eb~12"), f"tree entry 'gi7eb~12' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "gi7~1234 "), f"tree entry 'gi7~1234 ' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", ".gitmodules\u200c"), f"tree entry '.gitmodules\\u200c' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "\u200d.GitModules"), f"tree entry '\\u200d.GitModules' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "a\\.gitmodules"), f"tree entry 'a\\\\.gitmodules' {SYMLINKED_GITMODULES}"),
        (entry(b"120000", "a\\gitmod~1"), f"tree entry 'a\\\\gitmod~1' {SYMLINKED_GITMODULES}"),
        # duplicates: also a file and a tree of one name, adjacent or not
        (entry(b"100644", "a") + entry(b"100644", "a"), "tree entry 'a' is a duplicate"),
        (entry(b"40000", "a") + entry(b"40000", "a"), "tree entry 'a' is a duplicate"),
        (entry(b"100644", "a") + entry(b"40000", "a"), "tree entry 'a' is a duplicate"),
        (entry(b"160000", "a") + entry(b"40000", "a"), "tree entry 'a' is a duplicate"),
        (entry(b"100644", "a") + entry(b"120000", "a"), "tree entry 'a' is a duplicate"),
        (
            entry(b"100644", "foo") + entry(b"100644", "foo-bar") + entry(b"40000", "foo"),
            "tree entry 'foo' is a duplicate",
        ),
        (
            entry(b"100644", "foo")
            + entry(b"100644", "foo bar")
            + entry(b"40000", "foo-bar")
            + entry(b"100644", "foo.c")
            + entry(b"40000", "foo"),
            "tree entry 'foo' is a duplicate",
        ),
        # unsorted
        (entry(b"100644", "b") + entry(b"100644", "a"), "tree entry 'a' is not sorted after 'b'"),
        (entry(b"100644", "a") + entry(b"100644", "A"), "tree entry 'A' is not sorted after 'a'"),
        (entry(b"40000", "foo") + entry(b"100644", "foo.c"), "tree entry 'foo.c' is not sorted after 'foo'"),
        (
            entry(b"40000", "foo") + entry(b"100644", "foo-bar"),
            "tree entry 'foo-bar' is not sorted after 'foo'",
        ),
        (entry(b"100644", "foo0") + entry(b"40000", "foo"), "tree entry 'foo' is not sorted after 'foo0'"),
        (entry(b"100644", "a.txt") + entry(b"100644", "a"), "tree entry 'a' is not sorted after 'a.txt'"),
        (
            entry(b"100644", "a") + entry(b"100644", "c") + entry(b"100644", "b"),
            "tree entry 'b' is not sorted after 'c'",
        ),
    ],
)
def test_refused(data: bytes, reason: str) -> None:
    with pytest.raises(TreeRejected) as rejected:
        check_tree(data)
    assert str(rejected.value) == reason


def test_tree_rejected_is_an_object_rejection() -> None:
    assert issubclass(TreeRejected, ObjectRejected)


def test_reason_is_one_line_and_short() -> None:
    with pytest.raises(TreeRejected) as rejected:
        check_tree(entry(b"40000", "a/\n\x1b[31m" + "x" * 500))
    reason = str(rejected.value)
    assert "\n" not in reason
    assert len(reason) < 200


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # Regression: a search for entries went on past a malformed one and rescanned this NUL-less
        # run from every "100644 " in it; quadratic (minutes for 700 KB) before the anchored match.
        (b"100644 " * 100_000, "tree entry at byte 0: truncated (no NUL after the name)"),
        (
            entry(b"100644", "a") + b"100644 " * 100_000,
            "tree entry at byte 29: truncated (no NUL after the name)",
        ),
        (b"100644 " + b"x" * 1_000_000, "tree entry at byte 0: truncated (no NUL after the name)"),
    ],
)
def test_crafted_tree_is_refused_in_linear_time(data: bytes, reason: str) -> None:
    with pytest.raises(TreeRejected) as rejected:
        check_tree(data)
    assert str(rejected.value) == reason


def test_big_sorted_tree() -> None:
    names = sorted(f"file-{i:05d}.txt".encode() for i in range(5000))
    data = tree(*(entry(b"100644", name) for name in names))
    assert [e.name for e in check_tree(data)] == names


@pytest.mark.parametrize(
    ("name", "dotgit", "dotgitmodules"),
    [
        (b".git", True, False),
        (b".GiT. . ", True, False),
        (b"git~1", True, False),
        (b"git~1\\x", True, False),
        (b"x\\.git", True, False),
        (".g\u206bit".encode(), True, False),
        (b".git/", True, False),
        (b".gitx", False, False),
        (b"git~2", False, False),
        (b"xgit~1", False, False),
        (b".gitmodules", False, True),
        (b".GitModules ..", False, True),
        (b"gitmod~3", False, True),
        (b"gi7eb~42", False, True),
        (b"gi7eba~42", False, False),  # the short name is exactly 8 bytes
        (b"gi7eba~0", False, False),
        (b"gitmod~1x", False, False),
        (b"x\\gitmod~2", False, True),
        ("\ufeff.gitmodules".encode(), False, True),
    ],
)
def test_dotgit_names(name: bytes, dotgit: bool, dotgitmodules: bool) -> None:
    assert (is_dotgit(name), is_dotgitmodules(name)) == (dotgit, dotgitmodules)


# --- commits and tags --------------------------------------------------------------------------

TREE_HEX = b"4b825dc642cb6eb9a060e54bf8d69288fbee4904"
P1 = b"1" * 40
P2 = b"a" * 40
IDENT = b"A U Thor <author@example.com> 1700000000 +0100\n"


def commit(*lines: bytes, body: bytes = b"\nmessage\n") -> bytes:
    return b"".join(lines) + body


@pytest.mark.parametrize(
    ("data", "links"),
    [
        (
            commit(b"tree " + TREE_HEX + b"\n", b"author " + IDENT, b"committer " + IDENT),
            CommitLinks(TREE_HEX, ()),
        ),
        (
            commit(
                b"tree " + TREE_HEX + b"\n",
                b"parent " + P1 + b"\n",
                b"parent " + P2.upper() + b"\n",
                b"author " + IDENT,
                b"committer " + IDENT,
                b"encoding ISO-8859-1\n",
                b"gpgsig -----BEGIN PGP SIGNATURE-----\n \n -----END PGP SIGNATURE-----\n",
            ),
            CommitLinks(TREE_HEX, (P1, P2)),
        ),
        # no body at all, and odd but valid idents (git's own fsck accepts them)
        (
            commit(b"tree " + TREE_HEX + b"\n", b"author " + IDENT, b"committer " + IDENT, body=b""),
            CommitLinks(TREE_HEX, ()),
        ),
        (
            commit(
                b"tree " + TREE_HEX + b"\n",
                b"author  <> 0 -0000\n",
                b"committer Name <e> +5 +1400\n",
                b"encoding x\n",
            ),
            CommitLinks(TREE_HEX, ()),
        ),
        (
            commit(
                b"tree " + TREE_HEX + b"\n",
                b"author A <a@b> \t00000000000000000000000000001 +0000\n",
                b"committer A <a@b> 9223372036854775807 +0000\n",
            ),
            CommitLinks(TREE_HEX, ()),
        ),
        # a NUL in the message (after the headers) is only a warning in git fsck
        (
            commit(b"tree " + TREE_HEX + b"\n", b"author " + IDENT, b"committer " + IDENT, body=b"\nm\0x"),
            CommitLinks(TREE_HEX, ()),
        ),
    ],
)
def test_commit_accepted(data: bytes, links: CommitLinks) -> None:
    assert check_commit(data) == links


TREE_LINE = b"tree " + TREE_HEX + b"\n"
AUTHOR = b"author " + IDENT
COMMITTER = b"committer " + IDENT


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "commit headers are not terminated by a newline"),
        (TREE_LINE + AUTHOR + COMMITTER[:-1], "commit headers are not terminated by a newline"),
        (
            TREE_LINE + b"author A\0 <a> 1 +0000\n" + COMMITTER + b"\nm",
            "commit has a NUL byte in its headers",
        ),
        (b"parent " + P1 + b"\n" + TREE_LINE + AUTHOR + COMMITTER, "commit has no 'tree' line first"),
        (
            b"tree " + TREE_HEX[:39] + b"\n" + AUTHOR + COMMITTER,
            "commit has a bad 'tree' line (expected 40 hex digits)",
        ),
        (
            b"tree " + TREE_HEX + b" \n" + AUTHOR + COMMITTER,
            "commit has a bad 'tree' line (expected 40 hex digits)",
        ),
        (
            b"tree " + b"g" * 40 + b"\n" + AUTHOR + COMMITTER,
            "commit has a bad 'tree' line (expected 40 hex digits)",
        ),
        (
            TREE_LINE + b"parent " + P1[:20] + b"\n" + AUTHOR + COMMITTER,
            "commit has a bad 'parent' line (expected 40 hex digits)",
        ),
        (TREE_LINE + COMMITTER, "commit has no 'author' line"),
        (TREE_LINE + AUTHOR + AUTHOR + COMMITTER, "commit has more than one 'author' line"),
        (TREE_LINE + AUTHOR, "commit has no 'committer' line after its 'author' line"),
        (
            TREE_LINE + AUTHOR + b"encoding x\n" + COMMITTER,
            "commit has no 'committer' line after its 'author' line",
        ),
        (
            TREE_LINE + b"author <a@b> 1 +0000\n" + COMMITTER,
            "commit has a bad 'author' line '<a@b> 1 +0000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + b"author A<a@b> 1 +0000\n" + COMMITTER,
            "commit has a bad 'author' line 'A<a@b> 1 +0000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + b"author A <a@b 1 +0000\n" + COMMITTER,
            "commit has a bad 'author' line 'A <a@b 1 +0000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + b"author A> <a@b> 1 +0000\n" + COMMITTER,
            "commit has a bad 'author' line 'A> <a@b> 1 +0000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + b"author A <a@b>1 +0000\n" + COMMITTER,
            "commit has a bad 'author' line 'A <a@b>1 +0000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + b"author A <a@b> x +0000\n" + COMMITTER,
            "commit has a bad 'author' line 'A <a@b> x +0000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + AUTHOR + b"committer A <a@b> 1 0000\n",
            "commit has a bad 'committer' line 'A <a@b> 1 0000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + AUTHOR + b"committer A <a@b> 1 +000\n",
            "commit has a bad 'committer' line 'A <a@b> 1 +000' (expected 'Name <email> date tz')",
        ),
        (
            TREE_LINE + b"author A <a@b> 01 +0000\n" + COMMITTER,
            "commit has a zero-padded date in its 'author' line",
        ),
        (
            TREE_LINE + b"author A <a@b> 9223372036854775808 +0000\n" + COMMITTER,
            "commit has a date past time_t in its 'author' line",
        ),
        (
            TREE_LINE + b"author A <a@b> 1" + b"0" * 5000 + b" +0000\n" + COMMITTER,
            "commit has a date past time_t in its 'author' line",
        ),
    ],
)
def test_commit_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ObjectRejected) as rejected:
        check_commit(data)
    assert str(rejected.value) == reason


OBJECT_LINE = b"object " + P1 + b"\n"


@pytest.mark.parametrize(
    ("data", "target"),
    [
        (OBJECT_LINE + b"type commit\ntag v1.0\ntagger " + IDENT + b"\nrelease\n", P1),
        (b"object " + P2.upper() + b"\ntype tree\ntag t\n", P2),
        (OBJECT_LINE + b"type blob\ntag with a space\n\nno tagger: early tags had none\n", P1),
        (OBJECT_LINE + b"type tag\ntag nested\ntagger " + IDENT, P1),
    ],
)
def test_tag_accepted(data: bytes, target: bytes) -> None:
    assert check_tag(data) == target


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"object " + P1, "tag headers are not terminated by a newline"),
        (b"type commit\n" + OBJECT_LINE + b"tag v1\n", "tag has no 'object' line first"),
        (
            b"object " + P1[:39] + b"\ntype commit\ntag v1\n",
            "tag has a bad 'object' line (expected 40 hex digits)",
        ),
        (OBJECT_LINE + b"tag v1\n", "tag has no 'type' line after its 'object' line"),
        (OBJECT_LINE + b"type commits\ntag v1\n", "tag has a bad 'type' value 'commits'"),
        (OBJECT_LINE + b"type \ntag v1\n", "tag has a bad 'type' value ''"),
        (OBJECT_LINE + b"type commit\ntagger " + IDENT, "tag has no 'tag' line after its 'type' line"),
        (
            OBJECT_LINE + b"type commit\ntag v1\ntagger <t@x> 1 +0000\n",
            "tag has a bad 'tagger' line '<t@x> 1 +0000' (expected 'Name <email> date tz')",
        ),
        (OBJECT_LINE + b"type commit\0\ntag v1\n", "tag has a NUL byte in its headers"),
    ],
)
def test_tag_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ObjectRejected) as rejected:
        check_tag(data)
    assert str(rejected.value) == reason
