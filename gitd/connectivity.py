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
    for sha in links.referenced:
        if sha not in links.types and not in_repository(sha):
            raise PackRejected(f"missing object {sha.hex()}: the push is incomplete; push again")


def check_tips(
    tips: Iterable[bytes], links: Links, type_in_repository: Callable[[bytes], int | None]
) -> None:
    """Each new branch tip must exist and be a commit (a branch pointing at a blob is refused)."""
    for hex_sha in tips:
        sha = bytes.fromhex(hex_sha.decode())
        kind = links.types.get(sha) or type_in_repository(sha)
        if kind is None:
            raise PackRejected(f"missing object {hex_sha.decode()}: the pushed tip did not arrive")
        if kind != COMMIT:
            raise PackRejected(f"{hex_sha.decode()} is not a commit; only commits can be pushed to branches")


def check_shape(links: Links, limits: Limits) -> None:
    """Tree depth and path length of the new trees stay under the caps (git's own depth cap is 4096)."""
    depth: dict[bytes, int] = {}
    path: dict[bytes, int] = {}
    for root in links.longest_leaf:
        _measure(root, links, depth, path, limits)


def _measure(root: bytes, links: Links, depth: dict, path: dict, limits: Limits) -> None:
    # Iterative post-order walk: a hostile 100k-deep tree must not blow Python's stack.
    stack = [(root, False)]
    while stack:
        sha, expanded = stack.pop()
        if sha in depth:
            continue
        children = [c for c in links.subtrees.get(sha, ()) if c[0] in links.longest_leaf]
        if not expanded:
            stack.append((sha, True))
            stack.extend((c, False) for c, _ in children if c not in depth)
            continue
        d = 1 + max((depth[c] for c, _ in children), default=0)
        p = max([links.longest_leaf[sha]] + [n + 1 + path[c] for c, n in children])
        if d > limits.tree_depth:
            raise PackRejected(f"tree {sha.hex()} is nested {d} deep, over the cap of {limits.tree_depth}")
        if p > limits.path_bytes:
            raise PackRejected(
                f"a path in tree {sha.hex()} is {p} bytes long, over the cap of {limits.path_bytes}"
            )
        depth[sha], path[sha] = d, p
