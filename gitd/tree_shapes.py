"""How deep each tree of a push nests and how long its paths get, measured as its subtrees are (§2.2).

git writes a tree before the subtrees it introduces, and a tree that keeps a subtree of an earlier
commit finds it measured already. So a tree waits only for subtrees still on their way, and only trees
that wait keep anything of their entries: the memory follows the pack's frontier, not its size (a
300 MB push has millions of subtree entries). A tree over a cap is refused the moment it is measured.
"""

from __future__ import annotations

from array import array

from .object_index import ObjectIndex
from .pack_stream import PackRejected

NAME_MAX = 0xFFFF  # a name length is kept in 16 bits: a longer one counts as this (over any sane cap)
_LEAF_DEPTH = 1  # a subtree the pack does not bring (the repository's): one level, its name alone


class TreeShapes:
    """Depth and longest path by place, for every tree of the pack; caps checked on the way."""

    def __init__(self, objects: ObjectIndex, depth_cap: int, path_cap: int) -> None:
        self.objects = objects
        self.depth_cap, self.path_cap = depth_cap, path_cap
        self.depth = array("I")  # by place: levels of the tree there (1: files only), 0 until measured
        self.path = array("I")  # by place: its longest path in bytes, slashes included
        # A tree still waiting for subtrees -> [how many it waits for, deepest so far, longest so far].
        self._open: dict[int, list[int]] = {}
        # A subtree not measured yet (not arrived, or open) -> what waits for it: parent place << 16 | name.
        self._waiting: dict[bytes, list[int]] = {}

    def allot(self) -> None:
        """Room for the pack's next object (a tree or not: measures are kept by place)."""
        self.depth.append(0)
        self.path.append(0)

    def add(
        self, sha: bytes, place: int, longest: int, subtrees: list[bytes], places: list, names: list[int]
    ) -> None:
        """A tree arrived: its longest file name, and its subtrees with their places (None: not here yet)."""
        depth, path, is_open = self.depth, self.path, self._open.__contains__
        deepest, waits = 1, 0
        # Comparisons, not max(): this loop runs for every subtree entry of the push.
        for child, at, name in zip(subtrees, places, names, strict=True):
            if at is not None and depth[at]:
                if depth[at] >= deepest:
                    deepest = depth[at] + 1
                if name + 1 + path[at] > longest:
                    longest = name + 1 + path[at]
            elif at is None or is_open(at):
                self._waiting.setdefault(child, []).append(place << 16 | min(name, NAME_MAX))
                waits += 1
            else:  # the name of an object that is not a tree: nothing below it
                deepest = max(deepest, _LEAF_DEPTH + 1)
                longest = max(longest, name + 1)
        if waits:
            self._open[place] = [waits, deepest, longest]
        else:
            self._measured([(sha, place, deepest, longest)])

    def finish(self) -> None:
        """The pack is whole: subtrees it never brought count as leaves; every open tree gets measured."""
        while self._waiting:
            leaves = [sha for sha in self._waiting if self._open_place(sha) is None]
            if not leaves:
                raise PackRejected("pack has trees that contain one another")
            for sha in leaves:
                self._measured(self._resolve(sha, _LEAF_DEPTH, 0))

    def _open_place(self, sha: bytes) -> int | None:
        place = self.objects.get(sha)
        return place if place is not None and place in self._open else None

    def _measured(self, todo: list[tuple[bytes, int, int, int]]) -> None:
        """Record measured trees (sha, place, depth, longest path), and the trees they complete."""
        # Measuring a tree may complete the trees waiting for it, and theirs in turn: a work list, as a
        # hostile pack may nest thousands deep.
        while todo:
            sha, place, deepest, longest = todo.pop()
            if deepest > self.depth_cap:
                raise PackRejected(
                    f"tree {sha.hex()} is nested {deepest} deep, over the cap of {self.depth_cap}"
                )
            if longest > self.path_cap:
                raise PackRejected(
                    f"a path in tree {sha.hex()} is {longest} bytes long, over the cap of {self.path_cap}"
                )
            self.depth[place], self.path[place] = deepest, longest
            todo.extend(self._resolve(sha, deepest, longest))

    def _resolve(self, sha: bytes, depth: int, path: int) -> list[tuple[bytes, int, int, int]]:
        """Hand a subtree's measure to the trees waiting for it; those it completes go to `_measured`."""
        done = []
        for entry in self._waiting.pop(sha, ()):
            parent, name = entry >> 16, entry & NAME_MAX
            state = self._open[parent]
            state[0] -= 1
            state[1] = max(state[1], depth + 1)
            state[2] = max(state[2], name + 1 + path)
            if not state[0]:
                del self._open[parent]
                done.append((self.objects.sha_at(parent), parent, state[1], state[2]))
        return done
