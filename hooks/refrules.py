"""Ref rules as data (DESIGN.md §2.3): which refs build, with what options, what moves, what is kept."""

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
# Stored as pushed and never built: a clone gets them, and `git push --follow-tags` works.
KEPT = (b"refs/tags/",)


class RefRefused(ValueError):
    """The pushed ref is not one a fleet deploys from; the message says what to push instead."""


def is_kept(ref: bytes) -> bool:
    """Whether a pushed ref is stored as it is (created, moved or deleted) and never built: a tag."""
    return ref.startswith(KEPT)


def rule_for(ref: bytes, deleting: bool) -> BranchRule:
    """The rule for a pushed branch, or RefRefused with a hint (ask `is_kept` about tags first)."""
    if deleting:
        raise RefRefused(
            f"deleting {ref.decode(errors='replace')} is not allowed; a fleet's master is its deploy history"
        )
    rule = BRANCHES.get(ref)
    if rule is None:
        raise RefRefused(f"only master deploys; {HINT}")
    return rule
