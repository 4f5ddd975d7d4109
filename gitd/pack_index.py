"""A received pack's index: git's version 2 `.idx`, written beside the pack once every check passed."""

from __future__ import annotations

import hashlib
import os
import sys
from array import array
from pathlib import Path
from typing import BinaryIO


def install(
    pack_dir: Path, path: Path, names: list[bytes], offsets: array, crcs: array, pack_sha: bytes
) -> Path:
    """Name the pack by its contents and write its index; the .idx last, so readers never see half.

    `names` are sorted; `offsets` and `crcs` go with them.
    """
    base = pack_dir / f"pack-{hashlib.sha1(b''.join(names)).hexdigest()}"
    os.rename(path, base.with_suffix(".pack"))
    tmp_idx = base.with_suffix(".idx.tmp")
    with open(tmp_idx, "wb") as idx:
        write_index_v2(idx, names, offsets, crcs, pack_sha)
        idx.flush()
        os.fsync(idx.fileno())
    os.rename(tmp_idx, base.with_suffix(".idx"))
    return base.with_suffix(".pack")


def write_index_v2(out: BinaryIO, names: list[bytes], offsets: array, crcs: array, pack_sha: bytes) -> None:
    """Write a version 2 pack index (git's format) for `names`, sorted, with their offsets and CRCs.

    Table by table, hashed as it goes: joined into one bytes first, a 300k-object index is copied twice.
    """
    fanout = array("I", bytes(1024))
    for name in names:
        fanout[name[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    small = array("I")
    large = array("Q")
    for offset in offsets:
        if offset < 0x80000000:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
    checks = array("I", crcs)
    if sys.byteorder == "little":
        for table in (fanout, small, large, checks):
            table.byteswap()
    digest = hashlib.sha1()

    def put(data: bytes) -> None:
        digest.update(data)
        out.write(data)

    put(b"\377tOc\0\0\0\2" + fanout.tobytes())
    for at in range(0, len(names), 4096):
        put(b"".join(names[at : at + 4096]))
    for table in (checks, small, large):
        put(table.tobytes())
    put(pack_sha)
    out.write(digest.digest())
