"""Scratch space for a push's bookkeeping: regions of unlinked files in the quarantine, mapped.

Page cache that the kernel writes back under memory pressure, like the pack itself, instead of the
gateway's anonymous memory: what a push must remember per object then costs the disk, not the heap
(DESIGN.md §7). The files are unlinked from the start, so a crash leaves nothing behind.
"""

from __future__ import annotations

import mmap
import tempfile


class Scratch:
    """A zero-filled, mapped region of an unlinked file in `folder`, grown on demand; closed, it is gone."""

    def __init__(self, folder: str | None, size: int) -> None:
        self.file = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (open for the mapping's life)
        self.file.truncate(size)
        self.map = mmap.mmap(self.file.fileno(), size)
        self.used = 0  # bytes appended (`append`); the rest of the map is zeros

    def fit(self, size: int) -> None:
        """Make the region at least `size` bytes long (doubling): the file grows with it, zero-filled."""
        if size > len(self.map):
            self.map.resize(max(size, 2 * len(self.map)))

    def append(self, data: bytes) -> None:
        """Write `data` after what was appended before."""
        end = self.used + len(data)
        self.fit(end)
        self.map[self.used : end] = data
        self.used = end

    def close(self) -> None:
        self.map.close()
        self.file.close()
