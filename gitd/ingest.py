"""Pack ingestion: stream a pushed pack into a quarantine with caps, index it once, check every object.

dulwich's `add_thin_pack` inflates every object three times (copy, index, validate) and lands the
pack in the repository before any decision. Here the stream is copied once (object headers checked
against the caps *before* inflating), indexed once (each object resolved exactly once, and while it
is in hand the commit/tree/tag is fsck-checked and its links recorded), and the validation pass is
replaced by those checks. Connectivity and the tree depth/path caps are then answered from the
recorded links without touching the pack again.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from dulwich.errors import ApplyDeltaError, ChecksumMismatch, ObjectFormatException
from dulwich.object_store import DiskObjectStore
from dulwich.pack import (
    DELTA_TYPES,
    OFS_DELTA,
    REF_DELTA,
    PackData,
    PackIndexer,
    PackStreamCopier,
    UnpackedObject,
    _decode_delta_base_offset,
    _decode_object_header,
    extend_pack,
    read_pack_header,
    read_zlib_chunks,
    take_msb_bytes,
    write_pack_index,
)

from fleetgate.limits import Limits

from .fsck import ObjectRejected, TreeRejected, check_commit, check_tag, check_tree

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
GITLINK_MODE = 0o160000
TREE_MODE = 0o040000


class PackRejected(ValueError):
    """The pushed pack broke a cap or a rule; the message names which, for the pusher."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    size = shift = 0
    while True:
        if pos >= len(data):
            raise PackRejected("corrupt delta header in pack")
        byte = data[pos]
        pos += 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return size, pos


def _delta_result_size(chunks: list[bytes]) -> int:
    head = b"".join(chunks)[:20] if len(chunks) != 1 else chunks[0][:20]
    _, pos = _varint(head, 0)
    return _varint(head, pos)[0]


class CappedPackStream(PackStreamCopier):
    """Copies the pack to disk while enforcing the object-count and object-size caps from headers."""

    def __init__(self, hash_func, read_all, read_some, outfile, limits: Limits, delta_iter) -> None:
        super().__init__(hash_func, read_all, read_some, outfile, delta_iter=delta_iter)
        self._limits = limits

    def read_objects(self, compute_crc32: bool = False) -> Iterator[UnpackedObject]:
        _version, self._num_objects = read_pack_header(self.read)
        if self._num_objects > self._limits.object_count:
            raise PackRejected(
                f"pack has {self._num_objects} objects, over the cap of {self._limits.object_count}"
            )
        for _ in range(self._num_objects):
            offset = self.offset
            unpacked, unused = self._unpack_one()
            unpacked.offset = offset
            buf = BytesIO()
            buf.write(unused)
            buf.write(self._rbuf.read())
            buf.seek(0)
            self._rbuf = buf
            yield unpacked
        if self._buf_len() < self._hash_size:
            self.read(self._hash_size)
        if bytes(self._trailer) != self.sha.digest():
            raise PackRejected("pack checksum mismatch: the pack was corrupted in transit")

    def _unpack_one(self) -> tuple[UnpackedObject, bytes]:
        raw, _ = take_msb_bytes(self.read)
        type_num, size = _decode_object_header(raw)
        # The header's size is checked before a single byte is inflated (a zlib bomb never expands).
        self._check_size(size)
        delta_base: int | bytes | None = None
        if type_num == OFS_DELTA:
            delta_base = _decode_delta_base_offset(take_msb_bytes(self.read)[0])
        elif type_num == REF_DELTA:
            delta_base = self.read(self._hash_size)
        elif type_num not in (COMMIT, TREE, BLOB, TAG):
            raise PackRejected(f"pack holds an object of unknown type {type_num}")
        unpacked = UnpackedObject(type_num, delta_base=delta_base, decomp_len=size, crc32=None)
        unused = read_zlib_chunks(self.recv, unpacked)
        if type_num in DELTA_TYPES:
            # A small delta can describe a huge object: its header says how big the result will be.
            self._check_size(_delta_result_size(unpacked.decomp_chunks))
        return unpacked, unused

    def _check_size(self, size: int) -> None:
        if size > self._limits.object_bytes:
            raise PackRejected(
                f"pack holds an object of {size} bytes, over the cap of {self._limits.object_bytes} bytes"
            )


@dataclass
class Links:
    """What the indexed objects point at, recorded while each object is in hand.

    Compact on purpose: a 300 MB push has hundreds of thousands of objects, and a Python object per
    reference would cost more memory than the pack streaming does.
    """

    referenced: bytearray = field(default_factory=bytearray)  # 20-byte shas, repeats and all
    present: set[bytes] = field(default_factory=set)  # every object in the pack
    commits: set[bytes] = field(default_factory=set)
    # tree -> (longest file name in it, its subtrees' shas concatenated, their name lengths)
    trees: dict[bytes, tuple[int, bytes, array]] = field(default_factory=dict)

    def referenced_shas(self) -> set[bytes]:
        """Every sha (raw) the pack's objects reference and that was not in the pack when seen, once each."""
        refs = memoryview(self.referenced)
        return {refs[i : i + 20].tobytes() for i in range(0, len(refs), 20)}


class CheckingIndexer(PackIndexer):
    """Index entries for the pack, fsck-checking commits, trees and tags as they are resolved."""

    def __init__(self, file_obj, hash_func, resolve_ext_ref, links: Links) -> None:
        super().__init__(file_obj, hash_func, resolve_ext_ref=resolve_ext_ref)
        self.links = links

    def _result(self, unpacked: UnpackedObject):
        entry = super()._result(unpacked)
        kind = unpacked.obj_type_num
        self.links.present.add(entry[0])
        if kind != BLOB:
            self._record(entry[0], kind, b"".join(unpacked.obj_chunks))
        return entry

    def _record(self, sha: bytes, kind: int, body: bytes) -> None:
        links = self.links
        try:
            if kind == TREE:
                self._record_tree(sha, body)
            elif kind == COMMIT:
                links.commits.add(sha)
                commit = check_commit(body)
                links.referenced += bytes.fromhex(commit.tree.decode())
                for parent in commit.parents:
                    links.referenced += bytes.fromhex(parent.decode())
            elif kind == TAG:
                links.referenced += bytes.fromhex(check_tag(body).decode())
        except (TreeRejected, ObjectRejected) as e:
            raise PackRejected(f"object {sha.hex()} rejected: {e}") from None

    def _record_tree(self, sha: bytes, body: bytes) -> None:
        shas: list[bytes] = []
        subtrees: list[bytes] = []
        name_lengths = array("I")
        longest = 0
        for mode, name, child in check_tree(body):
            if mode == TREE_MODE:
                subtrees.append(child)
                name_lengths.append(len(name))
            elif mode == GITLINK_MODE:
                continue  # a submodule's commit lives in another repository: not this push's to deliver
            elif len(name) > longest:
                longest = len(name)
            shas.append(child)
        present = self.links.present
        # Most entries name objects the pack already delivered: only the others need remembering.
        self.links.referenced += b"".join([child for child in shas if child not in present])
        self.links.trees[sha] = (longest, b"".join(subtrees), name_lengths)


@dataclass(frozen=True)
class IngestedPack:
    """A pack that arrived whole and passed every per-object check, sitting in the quarantine."""

    pack_path: Path
    object_count: int
    links: Links


def _bounded(read: Callable[[int], bytes], limit: int, counter: list[int]) -> Callable[[int], bytes]:
    def bounded_read(size: int) -> bytes:
        data = read(size)
        counter[0] += len(data)
        if counter[0] > limit:
            raise PackRejected(f"pack is larger than the cap of {limit} bytes")
        return data

    return bounded_read


# What a malformed pack makes dulwich or zlib raise; each becomes a PackRejected for the pusher.
CORRUPTION = (
    zlib.error,
    ApplyDeltaError,
    ChecksumMismatch,
    ObjectFormatException,
    AssertionError,
    KeyError,
    struct.error,
    EOFError,
    IndexError,
    ValueError,
)


def ingest_pack(
    quarantine: DiskObjectStore,
    read_all: Callable[[int], bytes],
    read_some: Callable[[int], bytes],
    limits: Limits,
) -> IngestedPack:
    """Receive one pack from the wire into `quarantine`, completing thin packs from its alternates."""
    try:
        return _ingest(quarantine, read_all, read_some, limits)
    except PackRejected:
        raise
    except CORRUPTION as e:
        raise PackRejected(f"pack is corrupt ({type(e).__name__}: {e}); push again") from None


def _ingest(quarantine: DiskObjectStore, read_all, read_some, limits: Limits) -> IngestedPack:
    counter = [0]
    read_all = _bounded(read_all, limits.pack_bytes, counter)
    read_some = _bounded(read_some, limits.pack_bytes, counter)
    fd, path = tempfile.mkstemp(dir=quarantine.pack_dir, prefix="tmp_pack_")
    links = Links()
    try:
        with os.fdopen(fd, "w+b") as f:
            indexer = CheckingIndexer(f, quarantine.object_format.hash_func, quarantine.get_raw, links)
            copier = CappedPackStream(
                quarantine.object_format.hash_func, read_all, read_some, f, limits, indexer
            )
            try:
                copier.verify()
            except ChecksumMismatch:
                raise PackRejected("pack checksum mismatch: the pack was corrupted in transit") from None
            f.flush()
            with PackData(path, file=f, object_format=quarantine.object_format) as pd:
                indexer.set_pack_data(pd)
                entries = _index(indexer)
            ext_refs = set(indexer.ext_refs())
            pack_sha, extra = extend_pack(
                f, ext_refs, get_raw=quarantine.get_raw, object_format=quarantine.object_format
            )
            entries.extend(extra)
            f.flush()
            os.fsync(f.fileno())
        final = _install(quarantine, Path(path), entries, pack_sha)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return IngestedPack(pack_path=final, object_count=len(entries), links=links)


def _index(indexer: CheckingIndexer) -> list:
    try:
        return list(indexer)
    except (ApplyDeltaError, KeyError, AssertionError) as e:
        raise PackRejected(f"pack has a delta that does not resolve ({e})") from None


def _install(store: DiskObjectStore, path: Path, entries: list, pack_sha: bytes) -> Path:
    """Name the pack by its contents and write its index; the .idx last, so readers never see half."""
    entries.sort()
    base = Path(store._get_pack_basepath(entries))
    os.rename(path, base.with_suffix(".pack"))
    tmp_idx = base.with_suffix(".idx.tmp")
    with open(tmp_idx, "wb") as idx:
        write_pack_index(idx, entries, pack_sha)
        idx.flush()
        os.fsync(idx.fileno())
    os.rename(tmp_idx, base.with_suffix(".idx"))
    return base.with_suffix(".pack")
