"""What a pushed pack's objects are and point at, recorded while each object is in hand.

Compact on purpose: a 300 MB push has hundreds of thousands of objects and millions of tree entries,
and a Python object per object or per reference would make the push's memory grow with its size
(DESIGN.md §7). The objects are an `ObjectIndex`; the references are looked up in C against a
bounded cache of the names referenced lately, which answers ~95% of them in a real history (each
commit's trees repeat most names of the commit before), and only the rest go to the index. A name
the pack has not brought yet (git writes every commit before the trees they point at, and a tree
before its new blobs) is set aside in scratch space, and looked up once more when the pack is whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import filterfalse

from .object_index import NAME, ObjectIndex
from .scratch import Scratch
from .tree_shapes import TreeShapes

# Names per generation of the cache: two generations of this many are ~8 MB, whatever the pack's size.
CACHE_GENERATION = 1 << 15
_ABSENT = -1  # cached for a name the pack had not brought when it was referenced
_FIRST_LATER = 1 << 16  # bytes of scratch for names to look up again


class Links:
    """By sha each object's place, by place its type, the trees' shapes, and (once whole) what is missing."""

    def __init__(self, depth_cap: int, path_cap: int, scratch: str | None = None) -> None:
        self.objects = ObjectIndex(scratch)
        self.kinds = bytearray()  # object type by place (0: not resolved yet)
        self.shapes = TreeShapes(self.objects, depth_cap, path_cap)
        self._later = Scratch(scratch, _FIRST_LATER)  # names referenced before they arrived
        # Names of the pack referenced lately -> their places (or _ABSENT), in two generations: when
        # the young one is full it becomes the old one and the old one is dropped.
        self._young: dict[bytes, int] = {}
        self._old: dict[bytes, int] = {}

    def allot(self) -> int:
        """A place for the next object of the pack, in pack order."""
        self.kinds.append(0)
        self.shapes.allot()
        return self.objects.allot()

    def arrived(self, place: int, kind: int, sha: bytes) -> bool:
        """The object at `place` is resolved; False when the pack holds that object twice."""
        if not self.objects.name(place, sha):
            return False
        self.kinds[place] = kind
        # Referenced before it arrived (a commit's tree, a tree's new blob): more references follow.
        if sha in self._young:
            self._young[sha] = place
        elif sha in self._old:
            self._old[sha] = place
        return True

    def refer(self, shas: Iterable[bytes]) -> None:
        """Objects are referenced (by a tree, a commit, a tag): set aside the ones not here yet."""
        rest = filterfalse(self._old.__contains__, filterfalse(self._young.__contains__, shas))
        objects = self.objects
        for sha in rest:
            place = objects.get(sha)
            if place is None:
                self._later.append(sha)
                place = _ABSENT
            self._young[sha] = place
            if len(self._young) >= CACHE_GENERATION:
                self._old, self._young = self._young, {}

    def places_of(self, shas: list[bytes]) -> list[int | None]:
        """The places of objects just referenced (`refer`), None for those not in the pack yet."""
        places = list(map(self._young.get, shas))
        if None in places or _ABSENT in places:
            places = [self._place_of(sha) if at is None else at for at, sha in zip(places, shas, strict=True)]
            places = [None if at == _ABSENT else at for at in places]
        return places

    def finish(self) -> None:
        """The pack is whole: trees still waiting for subtrees are measured (leaves for what never came)."""
        self.shapes.finish()

    def missing(self) -> Iterator[bytes]:
        """Once the pack is whole: what it referenced and did not bring (a name may come more than once).

        Read from the scratch space, not gathered into a set: a hostile pack may name millions.
        """
        later, objects = self._later.map, self.objects
        for at in range(0, self._later.used, NAME):
            sha = later[at : at + NAME]
            if objects.get(sha) is None:
                yield sha

    def kind_of(self, sha: bytes) -> int | None:
        """The type of an object of the pack, or None when the pack does not hold it."""
        place = self.objects.get(sha)
        return None if place is None else self.kinds[place]

    def close(self) -> None:
        """Release the scratch space."""
        self.objects.close()
        self._later.close()

    def _place_of(self, sha: bytes) -> int | None:
        place = self._old.get(sha)
        if place is None:
            place = self.objects.get(sha)  # left both generations already (a tree of 32k+ entries)
        return place
