"""The quarantine: a push's own object directory, invisible to the fleet's repository until accepted.

Like git's `objects/incoming-*` directories: the quarantine sees the repository's objects through
`info/alternates` (so thin packs complete and connectivity can stop at known objects), but nothing in
it is visible from the repository until `accept()` moves its packs in, index last.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from dulwich.object_store import DiskObjectStore

from .durable import fsync_dir

PREFIX = "incoming-"


class Quarantine:
    """An object directory beside the repository's own, dropped unless the push is accepted."""

    def __init__(self, objects_dir: Path) -> None:
        self.objects_dir = objects_dir
        self.path = objects_dir / f"{PREFIX}{uuid.uuid4().hex}"
        (self.path / "pack").mkdir(parents=True)
        (self.path / "info").mkdir()
        (self.path / "info" / "alternates").write_text(str(objects_dir) + "\n")
        self.store = DiskObjectStore(str(self.path))

    def reopen(self) -> None:
        """See packs another process wrote into the quarantine."""
        self.store.close()
        self.store = DiskObjectStore(str(self.path))

    def accept(self) -> None:
        """Move every pack into the repository: data first, then the index that makes it visible."""
        target = self.objects_dir / "pack"
        for pack in sorted((self.path / "pack").glob("*.pack")):
            os.replace(pack, target / pack.name)
        fsync_dir(target)
        for idx in sorted((self.path / "pack").glob("*.idx")):
            os.replace(idx, target / idx.name)
        fsync_dir(target)
        self.discard()

    def discard(self) -> None:
        """Drop the quarantine and everything in it."""
        self.store.close()
        shutil.rmtree(self.path, ignore_errors=True)


def remove_stale(objects_dir: Path) -> int:
    """Remove quarantines a crashed process left behind; returns how many were removed."""
    removed = 0
    for stale in objects_dir.glob(f"{PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
        removed += 1
    for tmp in (objects_dir / "pack").glob("tmp_pack_*"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
