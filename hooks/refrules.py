"""Branch rules as data (DESIGN.md §2.3): which pushed refs build, with which options, and what moves."""

from __future__ import annotations

from dataclasses import dataclass

MASTER = b"refs/heads/master"


@dataclass(frozen=True)
class BranchRule:
    """What a push to one branch means: build options, and the ref that moves on success."""

    ref: bytes
    options: frozenset[str]
    moves: bytes


# `main` is a symbolic ref to master in every fleet repository; the balena-* branches are virtual:
# never stored, so pushing the same commit to them again always rebuilds.
BRANCHES: dict[bytes, BranchRule] = {
    MASTER: BranchRule(MASTER, frozenset(), MASTER),
    b"refs/heads/main": BranchRule(b"refs/heads/main", frozenset(), MASTER),
    b"refs/heads/balena-nocache": BranchRule(b"refs/heads/balena-nocache", frozenset({"nocache"}), MASTER),
    b"refs/heads/balena-emulated": BranchRule(b"refs/heads/balena-emulated", frozenset({"emulated"}), MASTER),
}

HINT = "push to master instead: git push <remote> my-branch:master"


class RefRefused(ValueError):
    """The pushed ref is not one a fleet deploys from; the message says what to push instead."""


def rule_for(ref: bytes, deleting: bool) -> BranchRule:
    """The rule for a pushed ref, or RefRefused with a hint."""
    if deleting:
        raise RefRefused(
            f"deleting {ref.decode(errors='replace')} is not allowed; a fleet's master is its deploy history"
        )
    if ref.startswith(b"refs/tags/"):
        raise RefRefused(f"tags are not deployed; {HINT}")
    rule = BRANCHES.get(ref)
    if rule is None:
        raise RefRefused(f"only master deploys; {HINT}")
    return rule
