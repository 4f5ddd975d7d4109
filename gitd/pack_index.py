"""A received pack's index: git's version 2 `.idx`, written beside the pack once every check passed."""

from __future__ import annotations

import hashlib
import os
import sys
from array import array
from pathlib import Path


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
        idx.write(index_v2(names, offsets, crcs, pack_sha))
        idx.flush()
        os.fsync(idx.fileno())
    os.rename(tmp_idx, base.with_suffix(".idx"))
    return base.with_suffix(".pack")


def index_v2(names: list[bytes], offsets: array, crcs: array, pack_sha: bytes) -> bytes:
    """A version 2 pack index (git's format) for `names`, sorted, with their offsets and CRCs."""
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
    tables = [fanout.tobytes(), *names, checks.tobytes(), small.tobytes(), large.tobytes(), pack_sha]
    body = b"".join([b"\377tOc\0\0\0\2", *tables])
    return body + hashlib.sha1(body).digest()
