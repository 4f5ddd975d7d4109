"""The objects of a pack being received, by name: each sha's place in the pack, off the Python heap.

A dict from sha to place costs ~125 bytes an object (a bytes key, an int value, the slot) and was the
part of a push's memory that grew with its size (DESIGN.md §7). Here the names sit in one table by
place and an open-addressing table of places finds them, both in mapped scratch files of the
quarantine (`scratch`), not on the Python heap. Lookups run in Python, so the hot paths (the
entries of every tree) go through a small cache of recent references first (`links.Links`); this
answers the rest, and orders the names for the pack's index.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

from .scratch import Scratch

NAME = 20  # bytes of a SHA-1 name
NULL = bytes(NAME)
_EMPTY = 0  # a free slot; a used one holds place + 1
_FIRST_SLOTS = 1 << 12
_FIRST_NAMES = 1 << 16  # bytes


class ObjectIndex:
    """sha -> place for the objects of one pack, places given out in pack order and named when resolved.

    Slots are chosen by `hash(sha)`: Python's keyed SipHash, so a pusher cannot pile names with a
    chosen prefix into one run of slots (a table indexed by the sha's own bytes could be flooded).
    """

    def __init__(self, folder: str | None = None) -> None:
        self._folder = folder  # for the scratch files: the quarantine, on the repository's disk
        self._names = Scratch(folder, _FIRST_NAMES)  # by place: the sha, zeros until resolved
        self._slot_file = Scratch(folder, 4 * _FIRST_SLOTS)
        self._slots = memoryview(self._slot_file.map).cast("I")
        self._places = 0
        self._named = 0

    def __len__(self) -> int:
        """How many places were given out (resolved or not)."""
        return self._places

    def allot(self) -> int:
        """The next place in pack order, for an object whose name is not known yet (a delta)."""
        place = self._places
        self._names.fit((place + 1) * NAME)
        self._places += 1
        return place

    def name(self, place: int, sha: bytes) -> bool:
        """Record that the object at `place` is `sha`; False when another place already has that name."""
        if (self._named + 1) * 2 > len(self._slots):
            self._grow()
        slot = self._slot_of(sha)
        if self._slots[slot] != _EMPTY:
            return False
        self._slots[slot] = place + 1
        self._names.map[place * NAME : place * NAME + NAME] = sha
        self._named += 1
        return True

    def get(self, sha: bytes) -> int | None:
        """The place of the object named `sha`, or None when the pack holds no such object (yet)."""
        used = self._slots[self._slot_of(sha)]
        return None if used == _EMPTY else used - 1

    def _slot_of(self, sha: bytes) -> int:
        """The slot that holds `sha`, or the free slot where it would go (linear probing)."""
        slots, names = self._slots, self._names.map
        mask = len(slots) - 1
        i = hash(sha) & mask
        while (used := slots[i]) != _EMPTY:
            at = (used - 1) * NAME
            if names[at : at + NAME] == sha:
                return i
            i = (i + 1) & mask
        return i

    def __enter__(self) -> ObjectIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the tables (their scratch files go with them)."""
        self._slots.release()
        self._slot_file.close()
        self._names.close()

    def sha_at(self, place: int) -> bytes:
        """The name of the object at `place` (the null sha while it is unresolved)."""
        return self._names.map[place * NAME : place * NAME + NAME]

    def by_name(self) -> Iterator[tuple[bytes, int]]:
        """(sha, place) of every object, ordered by sha: the order of a pack index (all resolved).

        Sorted one leading byte at a time, so that only 1/256 of the names are Python objects at once.
        """
        buckets = [array("I") for _ in range(256)]
        for place, first in enumerate(self._names.map[: self._places * NAME : NAME]):
            buckets[first].append(place)
        for bucket in buckets:
            yield from sorted(zip(map(self.sha_at, bucket), bucket, strict=True))

    def _grow(self) -> None:
        old, old_file = self._slots, self._slot_file
        self._slot_file = Scratch(self._folder, 8 * len(old))
        slots = self._slots = memoryview(self._slot_file.map).cast("I")
        mask = len(slots) - 1
        for used in filter(None, old):
            i = hash(self.sha_at(used - 1)) & mask
            while slots[i] != _EMPTY:
                i = (i + 1) & mask
            slots[i] = used
        old.release()
        old_file.close()
