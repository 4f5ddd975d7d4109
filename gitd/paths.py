"""Repository paths in SSH commands: `OWNER/FLEET.git` and nothing else (DESIGN.md §2.1)."""

from __future__ import annotations

import re

# The user-name rule and the fleet-name rule. ASCII only, lower case, no dots: a name can then never
# be `.`/`..`, never hide an extension, and never need quoting in a shell, a URL or a file name.
OWNER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,38}")
FLEET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

# Longer than any valid path, so a refusal never echoes a huge string.
_MAX_SHOWN = 80


class RepoPathRefused(ValueError):
    """A repository path in an SSH command is not `OWNER/FLEET.git`."""


def parse_repo_path(path: str) -> tuple[str, str]:
    """Return (owner, fleet) from `OWNER/FLEET.git`; one leading `/` and a missing `.git` are tolerated.

    Only one `.git` suffix is removed: `a/b.git.git` leaves the fleet name `b.git`, which the name rule
    refuses (names have no dots), so a path has exactly one spelling per fleet apart from the two
    tolerated ones.
    """
    rest = path[1:] if path.startswith("/") else path
    if rest.endswith(".git"):
        rest = rest[: -len(".git")]
    parts = rest.split("/")
    if len(parts) != 2:
        raise RepoPathRefused(f"repository path {quoted(path)} must be OWNER/FLEET.git")
    owner, fleet = parts
    # fullmatch, not match with `$`: `$` also matches before a trailing newline.
    if not OWNER_NAME.fullmatch(owner):
        raise RepoPathRefused(
            f"repository path {quoted(path)}: owner {quoted(owner)} is not a user name "
            "(lower-case letters, digits and '-', at most 39)"
        )
    if not FLEET_NAME.fullmatch(fleet):
        raise RepoPathRefused(
            f"repository path {quoted(path)}: fleet {quoted(fleet)} is not a fleet name "
            "(lower-case letters, digits, '-' and '_', at most 63)"
        )
    return owner, fleet


def quoted(text: str) -> str:
    """Quote untrusted text for a one-line message: escapes control and non-ASCII characters."""
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return ascii(text)
