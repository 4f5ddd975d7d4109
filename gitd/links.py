"""What a pushed pack's objects are and point at, recorded while each object is in hand.

Compact on purpose: a 300 MB push has hundreds of thousands of objects and millions of tree
entries, and a Python object (or a 20-byte sha) per reference would cost more memory than the pack
streaming does.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat

NAME_MAX = 0xFFFF  # names are kept in unsigned shorts: a longer one counts as this (over any sane path cap)


class TreeShapes:
    """For each tree of the pack: its longest file name and its subtrees (target, name length), in arrays.

    What the depth and path-length caps need. A subtree is kept as the place of its tree in the pack,
    4 bytes instead of its 20-byte sha: git writes a tree before the subtrees it introduces, so one not
    in the pack yet gets a pending number, resolved to a place when it arrives (`arrived`).
    """

    def __init__(self) -> None:
        self.shas = bytearray()  # 20 bytes a tree, for the messages
        self.places = array("I")  # by tree: its place in the pack
        self.longest = array("I")  # by tree: its longest file (not subtree) name
        self.starts = array("I")  # by tree: where its subtrees start in the two arrays below
        self.targets = array("i")  # by subtree entry: a place in the pack, or ~pending number
        self.name_lengths = array("H")  # by subtree entry: the length of its name
        self.pending: dict[bytes, int] = {}  # subtree sha not in the pack yet -> its pending number
        self.pending_places = array("i")  # by pending number: the place it arrived at, or -1

    def __len__(self) -> int:
        return len(self.longest)

    def add(
        self,
        sha: bytes,
        place: int,
        longest: int,
        subtrees: list[bytes],
        name_lengths: Iterable[int],
        present: dict[bytes, int],
    ) -> None:
        self.shas += sha
        self.places.append(place)
        self.longest.append(longest)
        self.starts.append(len(self.name_lengths))
        if subtrees:
            targets = list(map(present.get, subtrees))
            if None in targets:
                pairs = zip(targets, subtrees, strict=True)
                targets = [self._pending(sub) if at is None else at for at, sub in pairs]
            self.targets.extend(targets)
            self.name_lengths.extend(map(min, name_lengths, repeat(NAME_MAX)))

    def _pending(self, sha: bytes) -> int:
        number = self.pending.get(sha)
        if number is None:
            number = self.pending[sha] = len(self.pending_places)
            self.pending_places.append(-1)
        return ~number

    def arrived(self, sha: bytes, place: int) -> None:
        """An object the pack delivered: subtree entries waiting for it now know its place."""
        number = self.pending.pop(sha, None)
        if number is not None:
            self.pending_places[number] = place

    def subtrees(self, tree: int) -> range:
        """The subtree entries of tree number `tree`, as positions in `targets`/`name_lengths`."""
        end = self.starts[tree + 1] if tree + 1 < len(self.starts) else len(self.name_lengths)
        return range(self.starts[tree], end)


@dataclass
class Links:
    """What the pack's objects are and point at: by sha its place, by place its type, the trees' shapes."""

    present: dict[bytes, int] = field(default_factory=dict)  # every object in the pack -> its place
    missing: set[bytes] = field(default_factory=set)  # referenced by the pack and not in it (so far)
    kinds: bytearray = field(default_factory=bytearray)  # object type by place (0: not resolved)
    trees: TreeShapes = field(default_factory=TreeShapes)

    def kind_of(self, sha: bytes) -> int | None:
        """The type of an object of the pack, or None when the pack does not hold it."""
        place = self.present.get(sha)
        return None if place is None else self.kinds[place]
