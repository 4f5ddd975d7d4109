"""Connectivity checks over what a pack's objects point at (DESIGN.md §2.2).

The repository is complete by invariant, so a push is connected when every object referenced from
the pack is in the pack or already in the repository, and each new branch tip is a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .ingest import COMMIT, PackRejected
from .links import Links


def check_connected(links: Links, in_repository: Callable[[bytes], bool]) -> None:
    """Every referenced object arrived or is already known; else name the first missing one."""
    # A name may come more than once (referenced again after the cache forgot it): ask the
    # repository once. The set holds only names the repository has, so a hostile pack cannot grow it.
    known: set[bytes] = set()
    for sha in links.missing():
        if sha not in known:
            if not in_repository(sha):
                raise PackRejected(f"missing object {sha.hex()}: the push is incomplete; push again")
            known.add(sha)


def check_tips(
    tips: Iterable[bytes],
    links: Links,
    type_in_repository: Callable[[bytes], int | None],
    tagged: Iterable[bytes] = (),
) -> None:
    """Each new branch tip must exist and be a commit (a branch pointing at a blob is refused); what a
    new tag names must exist (git lets a tag name any object)."""
    for hex_sha in tagged:
        sha = bytes.fromhex(hex_sha.decode())
        if links.kind_of(sha) is None and type_in_repository(sha) is None:
            raise PackRejected(f"missing object {hex_sha.decode()}: the pushed tag's object did not arrive")
    for hex_sha in tips:
        sha = bytes.fromhex(hex_sha.decode())
        kind = links.kind_of(sha)
        if kind is None:
            kind = type_in_repository(sha)
        if kind is None:
            raise PackRejected(f"missing object {hex_sha.decode()}: the pushed tip did not arrive")
        if kind != COMMIT:
            raise PackRejected(f"{hex_sha.decode()} is not a commit; only commits can be pushed to branches")
