"""Repository path rules (DESIGN.md §2.1): exact accepts, and every hostile spelling refused."""

from __future__ import annotations

import pytest
from fleetgate.gitd.paths import RepoPathRefused, parse_repo_path, quoted


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("alice/web.git", ("alice", "web")),
        ("/alice/web.git", ("alice", "web")),
        ("alice/web", ("alice", "web")),
        ("/alice/web", ("alice", "web")),
        ("a/b.git", ("a", "b")),
        ("0/9", ("0", "9")),
        ("acme-corp/edge_fleet-2.git", ("acme-corp", "edge_fleet-2")),
        ("bob/git.git", ("bob", "git")),
        ("bob/git", ("bob", "git")),
        ("a" * 39 + "/" + "b" * 63 + ".git", ("a" * 39, "b" * 63)),
        # Well-formed, so it parses; no fleet "etc/passwd" exists, and repositories are found on disk
        # by the fleet's database id, never by this string.
        ("/etc/passwd", ("etc", "passwd")),
    ],
)
def test_accepted(path: str, expected: tuple[str, str]) -> None:
    assert parse_repo_path(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        # shape
        "",
        "/",
        ".git",
        "alice",
        "/alice.git",
        "alice/",
        "alice/web.git/",
        "alice/web/",
        "/alice/web/extra.git",
        "alice/web/extra",
        "//alice/web.git",
        "alice//web.git",
        "/alice//web",
        # traversal
        "../../etc/passwd",
        "a/../b",
        "alice/..",
        "alice/.",
        "./alice/web.git",
        "../alice/web.git",
        "alice/..git",
        "alice/.git",
        "alice/web.git.git",
        "alice/.hidden",
        # shell injection
        "alice/web.git; rm -rf /",
        "alice/$(id).git",
        "alice/`id`.git",
        "alice/web.git && id",
        "alice/web.git|id",
        "alice/web.git\nid",
        "alice/web.git\n",
        "alice/web\r.git",
        "alice/web.git ",
        " alice/web.git",
        "'alice/web.git'",
        "alice/we'b.git",
        'alice/we"b.git',
        "alice/web.git#",
        # options
        "--upload-pack=touch /tmp/pwned",
        "-x/web.git",
        "alice/-web.git",
        "/-alice/web",
        # encodings and odd characters
        "alice/web\0.git",
        "alice\\web.git",
        "alice/web\\.git",
        "~alice/web.git",
        "alice/~web.git",
        "~/web.git",
        "alice/web%2egit",
        "alice%2fweb.git",
        "%2e%2e/web.git",
        "Alice/web.git",
        "alice/Web.git",
        "alice/web.GIT",
        "alice/web.Git",
        "ålice/web.git",
        "alice/wéb.git",
        "alice/web\u200c.git",
        "alice/ｗeb.git",  # fullwidth w
        "alice/web\u0660.git",  # Arabic-Indic digit zero
        "al ice/web.git",
        "alice/web\t.git",
        "ali_ce/web.git",  # '_' is allowed in fleet names only
        "-alice/web.git",
        "_web/web.git",
        "alice/_web.git",
        # length
        "a" * 40 + "/web.git",
        "alice/" + "b" * 64 + ".git",
    ],
)
def test_refused(path: str) -> None:
    with pytest.raises(RepoPathRefused):
        parse_repo_path(path)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("alice", "repository path 'alice' must be OWNER/FLEET.git"),
        (
            "Alice/web.git",
            "repository path 'Alice/web.git': owner 'Alice' is not a user name "
            "(lower-case letters, digits and '-', at most 39)",
        ),
        (
            "alice/web.git\nid",
            "repository path 'alice/web.git\\nid': fleet 'web.git\\nid' is not a fleet name "
            "(lower-case letters, digits, '-' and '_', at most 63)",
        ),
    ],
)
def test_refusal_message(path: str, message: str) -> None:
    with pytest.raises(RepoPathRefused) as refused:
        parse_repo_path(path)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "'plain'"),
        ("a\nb", "'a\\nb'"),
        ("\x1b[31m", "'\\x1b[31m'"),
        ("w\u200ceb", "'w\\u200ceb'"),
        ("x" * 100, "'" + "x" * 80 + "...'"),
    ],
)
def test_quoted_is_one_printable_line(text: str, expected: str) -> None:
    assert quoted(text) == expected
