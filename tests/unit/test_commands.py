"""The SSH command grammar (DESIGN.md §2.1): exact parses and refusals."""

from __future__ import annotations

import pytest
from fleetgate.gitd.commands import (
    NOT_FOUND_MESSAGE,
    VERBS,
    Command,
    CommandRefused,
    parse_command,
    refusal_message,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("git-receive-pack '/alice/web.git'", Command("git-receive-pack", "alice", "web")),
        ("git-upload-pack '/alice/web.git'", Command("git-upload-pack", "alice", "web")),
        ("git-receive-pack 'alice/web.git'", Command("git-receive-pack", "alice", "web")),
        ("git-receive-pack '/alice/web'", Command("git-receive-pack", "alice", "web")),
        ("git-receive-pack /alice/web.git", Command("git-receive-pack", "alice", "web")),
        ("git-upload-pack alice/edge_2", Command("git-upload-pack", "alice", "edge_2")),
    ],
)
def test_accepted(line: str, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("git-receive-pack '/alice/web.git'", "push"),
        ("git-upload-pack '/alice/web.git'", "fetch"),
    ],
)
def test_kind(line: str, kind: str) -> None:
    assert parse_command(line).kind == kind


def test_verb_table() -> None:
    assert VERBS == {"git-receive-pack": "push", "git-upload-pack": "fetch"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "no command (an interactive shell was requested)"),
        ("bash", "command 'bash' is not one of: git-receive-pack, git-upload-pack"),
        ("sh -c 'id'", "command 'sh' is not one of: git-receive-pack, git-upload-pack"),
        ("git receive-pack '/a/b.git'", "command 'git' is not one of: git-receive-pack, git-upload-pack"),
        (
            "git-upload-archive '/a/b.git'",
            "command 'git-upload-archive' is not one of: git-receive-pack, git-upload-pack",
        ),
        (
            " git-receive-pack '/a/b.git'",
            "command '' is not one of: git-receive-pack, git-upload-pack",
        ),
        ("git-receive-pack", "command has no repository path"),
        ("git-receive-pack ", "command has no repository path"),
        (
            "git-receive-pack  '/a/b.git'",
            "argument \" '/a/b.git'\" is not one single-quoted repository path",
        ),
        (
            "git-receive-pack '/a/b.git' extra",
            "repository path \"'/a/b.git' extra\" is not one single-quoted argument",
        ),
        (
            "git-receive-pack '/a/b.git' '/c/d.git'",
            "repository path \"'/a/b.git' '/c/d.git'\" is not one single-quoted argument",
        ),
        (
            "git-receive-pack '/a/b.git' ",
            "repository path \"'/a/b.git' \" is not one single-quoted argument",
        ),
        ("git-receive-pack '", 'repository path "\'" is not one single-quoted argument'),
        ("git-receive-pack '/a/b.git", 'repository path "\'/a/b.git" is not one single-quoted argument'),
        (
            "git-receive-pack '/a/b'\\''c.git'",
            "repository path \"'/a/b'\\\\''c.git'\" is not one single-quoted argument",
        ),
        (
            'git-receive-pack "/a/b.git"',
            "argument '\"/a/b.git\"' is not one single-quoted repository path",
        ),
        (
            "git-receive-pack --upload-pack=id",
            "repository path '--upload-pack=id' looks like an option",
        ),
        ("git-receive-pack '-x'", "repository path '-x' looks like an option"),
        ("git-upload-pack '--help'", "repository path '--help' looks like an option"),
        (
            "git-receive-pack /a/b.git;id",
            "argument '/a/b.git;id' is not one single-quoted repository path",
        ),
        (
            "git-receive-pack $(id)",
            "argument '$(id)' is not one single-quoted repository path",
        ),
        (
            "git-receive-pack `id`",
            "argument '`id`' is not one single-quoted repository path",
        ),
        (
            "git-receive-pack '/a/b.git'\nbash",
            "command \"git-receive-pack '/a/b.git'\\nbash\" contains a NUL or a line break",
        ),
        (
            "git-receive-pack '/a/b.git'\0",
            "command \"git-receive-pack '/a/b.git'\\x00\" contains a NUL or a line break",
        ),
        (
            "git-receive-pack '/a/b.git'\r",
            "command \"git-receive-pack '/a/b.git'\\r\" contains a NUL or a line break",
        ),
        (
            "git-receive-pack\t'/a/b.git'",
            "command \"git-receive-pack\\t'/a/b.git'\" is not one of: git-receive-pack, git-upload-pack",
        ),
        (
            "GIT-RECEIVE-PACK '/a/b.git'",
            "command 'GIT-RECEIVE-PACK' is not one of: git-receive-pack, git-upload-pack",
        ),
        (
            "/usr/bin/git-receive-pack '/a/b.git'",
            "command '/usr/bin/git-receive-pack' is not one of: git-receive-pack, git-upload-pack",
        ),
        (
            "git-receive-pack ''",
            "repository path '' must be OWNER/FLEET.git",
        ),
        (
            "git-receive-pack '/a/b.git; rm -rf /'",
            "repository path '/a/b.git; rm -rf /' must be OWNER/FLEET.git",
        ),
        (
            "git-receive-pack '/a/b.git;id'",
            "repository path '/a/b.git;id': fleet 'b.git;id' is not a fleet name "
            "(lower-case letters, digits, '-' and '_', at most 63)",
        ),
        (
            "git-receive-pack '/a/../b.git'",
            "repository path '/a/../b.git' must be OWNER/FLEET.git",
        ),
        (
            "git-receive-pack ../../etc/passwd",
            "repository path '../../etc/passwd' must be OWNER/FLEET.git",
        ),
        (
            "git-receive-pack '/Alice/web.git'",
            "repository path '/Alice/web.git': owner 'Alice' is not a user name "
            "(lower-case letters, digits and '-', at most 39)",
        ),
    ],
)
def test_refused(line: str, reason: str) -> None:
    with pytest.raises(CommandRefused) as refused:
        parse_command(line)
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (
            "alice",
            "Hi alice! fleetgate does not provide shell access. Push with: git push balena master",
        ),
        (
            "",
            "Hi there! fleetgate does not provide shell access. Push with: git push balena master",
        ),
        (
            "ev\nil",
            "Hi evil! fleetgate does not provide shell access. Push with: git push balena master",
        ),
    ],
)
def test_refusal_message(user: str, message: str) -> None:
    assert refusal_message(user) == message
    assert "\n" not in refusal_message(user)


def test_not_found_message_is_one_line() -> None:
    assert NOT_FOUND_MESSAGE == (
        "fleet not found or you do not have access to it; "
        "check the remote URL and ask the fleet's owner to add you"
    )


def test_command_is_frozen() -> None:
    command = parse_command("git-receive-pack '/alice/web.git'")
    with pytest.raises(AttributeError):
        command.fleet = "other"  # type: ignore[misc]
