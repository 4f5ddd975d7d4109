"""What a pushed pack's objects are and point at, recorded while each object is in hand.

Compact on purpose: a 300 MB push has hundreds of thousands of objects, and a Python object per
reference would cost more memory than the pack streaming does.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field


class TreeShapes:
    """For each tree of the pack: its longest file name and its subtrees (sha, name length), in arrays.

    What the depth and path-length caps need, at a few dozen bytes a tree instead of a few hundred.
    """

    def __init__(self) -> None:
        self.shas = bytearray()  # 20 bytes a tree
        self.places = array("I")  # by tree: its place in the pack
        self.longest = array("I")  # by tree: its longest file (not subtree) name
        self.starts = array("I")  # by tree: where its subtrees start in the two arrays below
        self.subtree_shas = bytearray()  # 20 bytes a subtree entry
        self.name_lengths = array("I")  # by subtree entry: the length of its name

    def __len__(self) -> int:
        return len(self.longest)

    def add(self, sha: bytes, place: int, longest: int, subtree_shas: bytes, name_lengths) -> None:
        self.shas += sha
        self.places.append(place)
        self.longest.append(longest)
        self.starts.append(len(self.name_lengths))
        if subtree_shas:
            self.subtree_shas += subtree_shas
            self.name_lengths.extend(name_lengths)

    def subtrees(self, tree: int) -> range:
        """The subtree entries of tree number `tree`, as positions in `subtree_shas`/`name_lengths`."""
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
