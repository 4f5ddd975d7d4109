"""The SSH command grammar: what a client may ask fleetgate to run (DESIGN.md §2.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .paths import RepoPathRefused, parse_repo_path, quoted

# Verb -> kind. The one place a new SSH command (releases, logs, rollback...) joins the grammar.
VERBS: dict[str, str] = {
    "git-receive-pack": "push",
    "git-upload-pack": "fetch",
}

# git quotes the path with single quotes (sq_quote_buf); an unquoted path is tolerated only when it
# needs no quoting at all, so no shell metacharacter can ever reach us unquoted.
_PLAIN_PATH = re.compile(r"/?[a-z0-9_.-]+(?:/[a-z0-9_.-]+)*")

NOT_FOUND_MESSAGE = (
    "fleet not found or you do not have access to it; "
    "check the remote URL and ask the fleet's owner to add you"
)


class CommandRefused(ValueError):
    """An SSH command is not one fleetgate runs; `str()` is the reason, for the operator's log."""


@dataclass(frozen=True)
class Command:
    """A parsed SSH command: a verb from VERBS and the fleet it names."""

    verb: str
    owner: str
    fleet: str

    @property
    def kind(self) -> str:
        """What the verb does: `push` or `fetch`."""
        return VERBS[self.verb]


def parse_command(line: str) -> Command:
    """Parse `git-receive-pack '<path>'` or `git-upload-pack '<path>'`; anything else is refused."""
    if not line:
        raise CommandRefused("no command (an interactive shell was requested)")
    # Checked before splitting: a NUL or line break could hide a second command from a log reader.
    if any(c in line for c in "\0\n\r"):
        raise CommandRefused(f"command {quoted(line)} contains a NUL or a line break")
    verb, _, argument = line.partition(" ")
    if verb not in VERBS:
        raise CommandRefused(f"command {quoted(verb)} is not one of: {', '.join(VERBS)}")
    path = _unquote(argument)
    if path.startswith("-"):
        raise CommandRefused(f"repository path {quoted(path)} looks like an option")
    try:
        owner, fleet = parse_repo_path(path)
    except RepoPathRefused as refused:
        raise CommandRefused(str(refused)) from None
    return Command(verb=verb, owner=owner, fleet=fleet)


def refusal_message(user: str) -> str:
    """The one friendly line for anything that is not a git command (a shell, another verb...)."""
    user = "".join(c for c in user if c.isprintable()) or "there"
    return f"Hi {user}! fleetgate does not provide shell access. Push with: git push balena master"


def _unquote(argument: str) -> str:
    """Return the path from exactly one single-quoted argument, or a plain unquoted slug path."""
    if not argument:
        raise CommandRefused("command has no repository path")
    if argument.startswith("'"):
        # One quoted word: no quote inside, nothing after the closing quote (no `'a' 'b'`, no `'a'\''b'`).
        if len(argument) < 2 or not argument.endswith("'") or "'" in argument[1:-1]:
            raise CommandRefused(f"repository path {quoted(argument)} is not one single-quoted argument")
        return argument[1:-1]
    if argument.startswith("-"):
        raise CommandRefused(f"repository path {quoted(argument)} looks like an option")
    if not _PLAIN_PATH.fullmatch(argument):
        raise CommandRefused(f"argument {quoted(argument)} is not one single-quoted repository path")
    return argument
