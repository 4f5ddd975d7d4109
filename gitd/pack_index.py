"""A received pack's index: git's version 2 `.idx`, written beside the pack once every check passed."""

from __future__ import annotations

import hashlib
import os
import sys
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

_HEADER = b"\377tOc\0\0\0\2"
_NAMES_AT = len(_HEADER) + 256 * 4  # the name table starts after the header and the fan-out table
_CHUNK = 4096  # names written per write


def install(pack_dir: Path, path: Path, rows: Iterable[tuple[bytes, int, int]], pack_sha: bytes) -> Path:
    """Write the index of the pack at `path` and name both by their contents; the .idx last, so that
    readers never see half. `rows`: (sha, offset, CRC-32) of each object, sorted by sha."""
    tmp_idx = path.with_suffix(".idx.tmp")
    try:
        with open(tmp_idx, "w+b") as idx:
            names_sha = write_index_v2(idx, rows, pack_sha)
            idx.flush()
            os.fsync(idx.fileno())
        base = pack_dir / f"pack-{names_sha.hex()}"
        os.rename(path, base.with_suffix(".pack"))
        os.rename(tmp_idx, base.with_suffix(".idx"))
    finally:
        tmp_idx.unlink(missing_ok=True)
    return base.with_suffix(".pack")


def write_index_v2(out: BinaryIO, rows: Iterable[tuple[bytes, int, int]], pack_sha: bytes) -> bytes:
    """Write a version 2 pack index (git's format) to `out`, a new file open for reading too.

    One pass over the rows, sorted by sha: names go straight to the file (a 300k-object push would
    hold 6 MB of them otherwise), CRCs and offsets are gathered, the fan-out is written last in its
    place. Returns the SHA-1 of the names, which names the pack (as git's own index-pack does).
    """
    fanout = array("I", bytes(1024))
    checks, small, large = array("I"), array("I"), array("Q")
    names_sha = hashlib.sha1()
    out.seek(_NAMES_AT)
    chunk = bytearray()
    for sha, offset, crc in rows:
        fanout[sha[0]] += 1
        chunk += sha
        checks.append(crc)
        if offset < 0x80000000:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
        if len(chunk) >= 20 * _CHUNK:
            names_sha.update(chunk)
            out.write(chunk)
            chunk.clear()
    names_sha.update(chunk)
    out.write(chunk)
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    if sys.byteorder == "little":
        for table in (fanout, checks, small, large):
            table.byteswap()
    for table in (checks, small, large):
        out.write(table.tobytes())
    out.write(pack_sha)
    out.seek(0)
    out.write(_HEADER + fanout.tobytes())
    # The index's own checksum covers every byte before it, the fan-out included: read it back.
    out.seek(0)
    digest = hashlib.sha1()
    while block := out.read(1 << 20):
        digest.update(block)
    out.write(digest.digest())
    return names_sha.digest()
