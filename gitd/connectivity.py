"""Connectivity and shape checks over what a pack's objects point at (DESIGN.md §2.2).

The repository is complete by invariant, so a push is connected when every object referenced from
the pack is in the pack or already in the repository, and each new tip is a commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fleetgate.limits import Limits

from .ingest import COMMIT, Links, PackRejected


def check_connected(links: Links, in_repository: Callable[[bytes], bool]) -> None:
    """Every referenced object arrived or is already known; else name the first missing one."""
    for sha in links.referenced_shas() - links.present:
        if not in_repository(sha):
            raise PackRejected(f"missing object {sha.hex()}: the push is incomplete; push again")


def check_tips(
    tips: Iterable[bytes], links: Links, type_in_repository: Callable[[bytes], int | None]
) -> None:
    """Each new branch tip must exist and be a commit (a branch pointing at a blob is refused)."""
    for hex_sha in tips:
        sha = bytes.fromhex(hex_sha.decode())
        if sha in links.commits:
            continue
        kind = -1 if sha in links.present else type_in_repository(sha)
        if kind is None:
            raise PackRejected(f"missing object {hex_sha.decode()}: the pushed tip did not arrive")
        if kind != COMMIT:
            raise PackRejected(f"{hex_sha.decode()} is not a commit; only commits can be pushed to branches")


def check_shape(links: Links, limits: Limits) -> None:
    """Tree depth and path length of the new trees stay under the caps (git's own depth cap is 4096)."""
    measured: dict[bytes, tuple[int, int]] = {}  # tree -> (depth, longest path below it)
    for root in links.trees:
        if root not in measured:
            _measure(root, links, measured, limits)


def _measure(root: bytes, links: Links, measured: dict[bytes, tuple[int, int]], limits: Limits) -> None:
    # Iterative post-order walk: a hostile 100k-deep tree must not blow Python's stack. Subtrees the
    # repository already had were measured when they arrived: they count as leaves here.
    trees = links.trees
    stack: list[tuple[bytes, bool]] = [(root, False)]
    children: dict[bytes, list[tuple[bytes, int]]] = {}
    while stack:
        sha, expanded = stack.pop()
        if sha in measured:
            continue
        longest, shas, name_lengths = trees[sha]
        if not expanded:
            subtrees = [(shas[i * 20 : i * 20 + 20], n) for i, n in enumerate(name_lengths)]
            children[sha] = subtrees
            stack.append((sha, True))
            stack.extend((c, False) for c, _ in subtrees if c in trees and c not in measured)
            continue
        subtrees = children.pop(sha)
        depth, path = 1, longest
        for child, name_length in subtrees:
            below = measured.get(child)
            if below is not None:
                if below[0] >= depth:
                    depth = below[0] + 1
                if name_length + 1 + below[1] > path:
                    path = name_length + 1 + below[1]
        if depth > limits.tree_depth:
            raise PackRejected(
                f"tree {sha.hex()} is nested {depth} deep, over the cap of {limits.tree_depth}"
            )
        if path > limits.path_bytes:
            raise PackRejected(
                f"a path in tree {sha.hex()} is {path} bytes long, over the cap of {limits.path_bytes}"
            )
        measured[sha] = (depth, path)
