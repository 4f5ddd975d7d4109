"""Connectivity and shape checks over what a pack's objects point at (DESIGN.md §2.2).

The repository is complete by invariant, so a push is connected when every object referenced from
the pack is in the pack or already in the repository, and each new tip is a commit.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable

from fleetgate.limits import Limits

from .ingest import COMMIT, PackRejected
from .links import Links, TreeShapes


def check_connected(links: Links, in_repository: Callable[[bytes], bool]) -> None:
    """Every referenced object arrived or is already known; else name the first missing one."""
    for sha in links.missing:
        if not in_repository(sha):
            raise PackRejected(f"missing object {sha.hex()}: the push is incomplete; push again")


def check_tips(
    tips: Iterable[bytes], links: Links, type_in_repository: Callable[[bytes], int | None]
) -> None:
    """Each new branch tip must exist and be a commit (a branch pointing at a blob is refused)."""
    for hex_sha in tips:
        sha = bytes.fromhex(hex_sha.decode())
        kind = links.kind_of(sha)
        if kind is None:
            kind = type_in_repository(sha)
        if kind is None:
            raise PackRejected(f"missing object {hex_sha.decode()}: the pushed tip did not arrive")
        if kind != COMMIT:
            raise PackRejected(f"{hex_sha.decode()} is not a commit; only commits can be pushed to branches")


def check_shape(links: Links, limits: Limits) -> None:
    """Tree depth and path length of the new trees stay under the caps (git's own depth cap is 4096)."""
    shapes = links.trees
    count = len(shapes)
    if not count:
        return
    # Each subtree entry as the number of a tree of the pack, or -1 for a tree the repository had
    # (measured when it arrived: it counts as a leaf here), through a place -> tree array. A pending
    # target ~n reads as the index -1-n: the n-th from the end, where the tree of pending n goes.
    tree_of = array("i", [-1]) * len(links.kinds)
    for tree, place in enumerate(shapes.places):
        tree_of[place] = tree
    tree_of.extend(tree_of[place] if place >= 0 else -1 for place in reversed(shapes.pending_places))
    child = array("i", map(tree_of.__getitem__, shapes.targets))
    del tree_of
    depth = array("I", bytes(4 * count))  # 0 until measured
    path = array("I", bytes(4 * count))
    for root in range(count):
        if not depth[root]:
            _measure(root, shapes, child, depth, path, limits)


def _measure(root: int, shapes: TreeShapes, child: array, depth: array, path: array, limits: Limits) -> None:
    # Iterative post-order walk: a hostile 100k-deep tree must not blow Python's stack.
    name_lengths = shapes.name_lengths
    stack: list[tuple[int, bool]] = [(root, False)]
    while stack:
        tree, expanded = stack.pop()
        if depth[tree]:
            continue
        entries = shapes.subtrees(tree)
        if not expanded:
            stack.append((tree, True))
            stack.extend((child[k], False) for k in entries if child[k] >= 0 and not depth[child[k]])
            continue
        deepest, longest = 1, shapes.longest[tree]
        for k in entries:
            below = child[k]
            if below >= 0:
                if depth[below] >= deepest:
                    deepest = depth[below] + 1
                if name_lengths[k] + 1 + path[below] > longest:
                    longest = name_lengths[k] + 1 + path[below]
        if deepest > limits.tree_depth:
            sha = shapes.shas[tree * 20 : tree * 20 + 20].hex()
            raise PackRejected(f"tree {sha} is nested {deepest} deep, over the cap of {limits.tree_depth}")
        if longest > limits.path_bytes:
            sha = shapes.shas[tree * 20 : tree * 20 + 20].hex()
            raise PackRejected(
                f"a path in tree {sha} is {longest} bytes long, over the cap of {limits.path_bytes}"
            )
        depth[tree] = deepest
        path[tree] = longest
