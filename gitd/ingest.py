"""Pack ingestion: a pushed pack streamed into a quarantine, resolved and checked in one pass.

dulwich's `add_thin_pack` inflates every object three times (copy, index, validate) and lands the
pack in the repository before any decision. Here each object is inflated once, by the pack stream
(`pack_stream`: caps from the headers, disk, CRCs, whole objects hashed), and this stage resolves
each delta at once against its base, which is almost always still in a cache of recently resolved
objects bounded in bytes (git writes a base shortly before its deltas). A blob delta whose base fell
out of the cache is set aside and resolved later, with the deltas that come to depend on it, in one
rebuild of the base from the part of the pack already on disk; a delta whose base has not arrived yet
(a ref-delta to a later object) waits for it. Every commit, tree and tag is fsck-checked while it is in
hand, and what connectivity and the depth/path caps need is recorded on the way (`links`), so the
pack is never read again. For a big pack the stream runs in a process of its own (`ingest_frames`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from heapq import merge
from itertools import compress
from pathlib import Path

from dulwich.errors import ApplyDeltaError
from dulwich.object_store import DiskObjectStore
from dulwich.pack import apply_delta, extend_pack
from zlib_ng import zlib_ng

from fleetgate.limits import Limits

from .fsck import ObjectRejected, TreeRejected, check_commit, check_tag, check_tree_columns
from .links import Links
from .pack_index import install
from .pack_stream import (
    BLOB,
    COMMIT,
    CORRUPTION,
    OBJECT_HEADERS,
    OFS_DELTA,
    READ_CHUNK,
    TAG,
    TREE,
    Frame,
    PackRejected,
    PackStream,
    corrupt,
    object_header,
)

__all__ = ["BLOB", "COMMIT", "TREE", "IngestedPack", "PackRejected", "ingest_frames", "ingest_pack"]

_FILE_MODES = frozenset((b"100644", b"100755", b"100664", b"120000"))
_HEADER_MAX = 32
# Resolved objects kept for the deltas that follow them; one object may take a quarter of it.
CACHE_BYTES = 32 << 20
# The cache's objects come and go by the hundred thousand: the C heap they leave holes in is given
# back to the system this often (glibc keeps it otherwise, and RssAnon grew with the pack).
TRIM_EVERY = 16 << 20  # bytes of objects made or re-read
# Deltas set aside at most (blob deltas whose base the cache forgot, and the deltas that come to wait
# on those) before they are resolved: a hostile pack of millions of them costs what a big honest one does.
DEFER_MAX = 1 << 16
ENTRY_COST = 200  # what a cache entry costs besides its data (key, tuple, the ordered dict's node)
# What a malformed pack makes the resolution raise, besides the stream's; each becomes a PackRejected.
_CORRUPTION = (*CORRUPTION, ApplyDeltaError)


@dataclass(frozen=True)
class IngestedPack:
    """A pack that arrived whole and passed every per-object check, sitting in the quarantine.

    `links` map scratch files: whoever checks the push closes them.
    """

    pack_path: Path
    object_count: int
    links: Links


def ingest_pack(
    quarantine: DiskObjectStore,
    read_some: Callable[[int], bytes],
    limits: Limits,
    cache_bytes: int = CACHE_BYTES,
) -> IngestedPack:
    """Receive one pack from the wire into `quarantine` in this process (both stages in turn)."""
    fd, path = tempfile.mkstemp(dir=quarantine.pack_dir, prefix="tmp_pack_")
    try:
        with os.fdopen(fd, "r+b", buffering=READ_CHUNK) as out:
            stream = PackStream(read_some, out, limits.pack_bytes, limits.object_bytes, limits.object_count)
            return ingest_frames(quarantine, Path(path), stream.frames(), limits, cache_bytes)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise


def ingest_frames(
    quarantine: DiskObjectStore,
    path: Path,
    frames: Iterable[Frame],
    limits: Limits,
    cache_bytes: int = CACHE_BYTES,
) -> IngestedPack:
    """Resolve and check the pack stream's frames (its objects already on disk at `path`); install it.

    Completes a thin pack from the repository (the quarantine's alternate) before naming it.
    """
    links = Links(limits.tree_depth, limits.path_bytes, scratch=str(path.parent))
    try:
        return _ingest(quarantine, path, frames, links, cache_bytes)
    except BaseException:
        links.close()
        raise


def _ingest(
    quarantine: DiskObjectStore, path: Path, frames: Iterable[Frame], links: Links, cache_bytes: int
) -> IngestedPack:
    with open(path, "r+b") as f:
        indexer = _Indexer(f.fileno(), quarantine, links, cache_bytes)
        try:
            for kind, body in frames:
                if kind == "end":
                    trailer = body
                    break
                indexer.add(body)
            else:
                raise PackRejected("pack ends before its checksum")
            indexer.finish()
        except PackRejected:
            raise  # a ValueError, but already the pusher's line
        except _CORRUPTION as e:
            raise corrupt(e) from None
        indexer.release()
        _trim_heap()  # the cache's memory back to the system before the index and the checks
        extra: list[tuple[bytes, int, int]] = []
        ext_refs = {sha for sha in indexer.external if links.objects.get(sha) is None}
        if ext_refs:
            # A thin pack: append the bases it left out so that the pack stands on its own.
            trailer, extra = extend_pack(
                f, ext_refs, get_raw=quarantine.get_raw, object_format=quarantine.object_format
            )
        f.flush()
        os.fsync(f.fileno())
    final = _install(quarantine, path, indexer, extra, trailer)
    return IngestedPack(pack_path=final, object_count=len(indexer.offsets) + len(extra), links=links)


class _Indexer:
    """Resolve deltas, hash, check and record the objects of the pack stream, batch by batch."""

    def __init__(self, fd: int, store: DiskObjectStore, links: Links, cache_bytes: int) -> None:
        self.fd = fd  # the pack on disk, for bases that fell out of the cache
        self.store = store
        self.links = links
        self.offsets = array("Q")  # by place: where the object starts in the pack
        self.crcs = array("I")  # by place: CRC-32 of the object's bytes in the pack
        self.external: set[bytes] = set()  # ref-delta bases taken from the repository
        self.cache: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self.cache_size = 0
        self.cache_bytes = cache_bytes
        self.cache_item = cache_bytes // 4
        self.waiting_ofs: dict[int, list[int]] = {}  # unresolved base place -> deltas waiting on it
        self.waiting_ref: dict[bytes, list[int]] = {}  # base sha not seen yet -> deltas waiting on it
        self.churn = 0  # bytes of objects made or re-read since the heap was last trimmed
        self.deferred = array("Q")  # (base place, delta place) pairs of blob deltas set aside
        self.set_aside = 0  # deltas deferred, or waiting on one deferred, since they were last resolved

    def add(self, records: list) -> None:
        """One batch of the stream: (kind, base, data, sha, offset, crc) per object, in pack order."""
        offsets, crcs, allot = self.offsets, self.crcs, self.links.allot
        for kind, base, data, sha, offset, crc in records:
            place = allot()
            offsets.append(offset)
            crcs.append(crc)
            if base is None:
                self._resolved(place, kind, data, sha)
            else:
                self._delta(place, base, data)
        self._trim()

    def finish(self) -> None:
        """Every delta must have found its base; then the trees still waiting for subtrees are measured."""
        self._resolve_deferred()
        if self.waiting_ofs or self.waiting_ref:
            base = next(iter(self.waiting_ref), None)
            named = f" (no object {base.hex()})" if base is not None else ""
            raise PackRejected(f"pack has a delta that does not resolve{named}")
        self.links.finish()

    def _trim(self) -> None:
        if self.churn >= TRIM_EVERY:
            self.churn = 0
            _trim_heap()

    def _place_at(self, offset: int) -> int:
        """The place of the object that starts at `offset`, or -1."""
        i = bisect_left(self.offsets, offset)
        return i if i < len(self.offsets) and self.offsets[i] == offset else -1

    # --- resolution --------------------------------------------------------------------------------

    def _delta(self, place: int, base: int | bytes, delta: bytes) -> None:
        """Resolve a delta that just arrived, or leave it waiting for its base."""
        if isinstance(base, int):
            base_kind = self.links.kinds[base]
            if not base_kind:
                self.waiting_ofs.setdefault(base, []).append(place)
                self._count_set_aside()
                return
            if base_kind == BLOB and base not in self.cache:
                self._defer(base, place)
                return
            kind, source = self._data_of(base)
        else:
            at = self.links.objects.get(base)
            if at is not None:
                kind, source = self._data_of(at)
            else:
                try:
                    kind, source = self.store.get_raw(base)
                except KeyError:
                    self.waiting_ref.setdefault(base, []).append(place)
                    return
                self.external.add(base)
        self._resolved(place, kind, _apply(kind, source, delta))

    def _defer(self, base: int, place: int) -> None:
        # A blob whose base fell out of the cache: rebuilding the base now would walk its whole chain
        # back from the disk, and again for the next version of the same file, which comes thousands of
        # objects later (git writes a file's history newest first, each version a delta of the one
        # before). Set aside, the delta and every later version (waiting on it) are resolved in one walk.
        # Trees are not set aside: their parents would wait to be measured, and they are few.
        self.deferred.append(base)
        self.deferred.append(place)
        self._count_set_aside()

    def _count_set_aside(self) -> None:
        self.set_aside += 1
        if self.set_aside >= DEFER_MAX and self.deferred:
            self._resolve_deferred()

    def _resolve_deferred(self) -> None:
        """Resolve the blob deltas set aside, in the order of their bases in the pack."""
        deferred, self.deferred = self.deferred, array("Q")
        self.set_aside = 0
        bases = set()
        for base, place in zip(deferred[::2], deferred[1::2], strict=True):
            self.waiting_ofs.setdefault(base, []).append(place)
            bases.add(base)
        del deferred
        for base in sorted(bases):
            self._wake(base, None)
            self._trim()

    def _resolved(self, place: int, kind: int, data: bytes, sha: bytes | None = None) -> None:
        """Hash, check and record one object; then resolve whatever was waiting for it."""
        sha = self._record(place, kind, data, sha)
        if place in self.waiting_ofs or sha in self.waiting_ref:  # rare: most deltas come after their base
            self._wake(place, sha)

    def _wake(self, place: int, sha: bytes | None) -> None:
        # Only places and shas wait in line: the data is taken again from the cache (or the disk)
        # when its turn comes, so a wide fan of waiting deltas holds no more memory than the cache.
        todo = [(place, sha)]
        while todo:
            place, sha = todo.pop()
            waiting = self.waiting_ofs.pop(place, [])
            if sha is not None:
                waiting += self.waiting_ref.pop(sha, [])
            if not waiting:
                continue
            kind, data = self._data_of(place)
            for child in waiting:
                delta = self._read_at(self.offsets[child])[2]
                todo.append((child, self._record(child, kind, _apply(kind, data, delta))))

    def _record(self, place: int, kind: int, data: bytes, sha: bytes | None = None) -> bytes:
        if sha is None:
            h = hashlib.sha1(OBJECT_HEADERS[kind] % len(data))
            h.update(data)
            sha = h.digest()
        self.churn += len(data)
        if not self.links.arrived(place, kind, sha):
            raise PackRejected(f"pack holds object {sha.hex()} twice")
        if kind != BLOB:
            self._check(sha, place, kind, data)
        self._keep(place, kind, data)
        return sha

    def _keep(self, place: int, kind: int, data: bytes) -> None:
        # Commits and tags are not kept: git does not write them as deltas (none of 11k commits in the
        # bench's history; a rare one is rebuilt from the disk), and a pack opens with all its commits,
        # whose many small blocks, cached, left the heap larger for the rest of the push.
        if kind in (COMMIT, TAG):
            return
        if len(data) <= self.cache_item:
            cache = self.cache
            if place in cache:
                return
            cache[place] = (kind, data)
            self.cache_size += len(data) + ENTRY_COST
            while self.cache_size > self.cache_bytes:
                self.cache_size -= len(cache.popitem(last=False)[1][1]) + ENTRY_COST

    def _data_of(self, place: int) -> tuple[int, bytes]:
        """A resolved object's type and data: from the cache, else rebuilt from the pack on disk."""
        hit = self.cache.get(place)
        if hit is not None:
            self.cache.move_to_end(place)
            return hit
        chain: list[int] = []  # deltas to apply, last first; walked with offsets only
        while True:
            kind, base, data = self._read_at(self.offsets[place])
            if base is None:
                break
            chain.append(place)
            if isinstance(base, int):
                place = base
            else:
                at = self.links.objects.get(base)
                if at is None:
                    kind, data = self.store.get_raw(base)
                    break
                place = at
            hit = self.cache.get(place)
            if hit is not None:
                kind, data = hit
                break
        for place in reversed(chain):
            data = _apply(kind, data, self._read_at(self.offsets[place])[2])
            self._keep(place, kind, data)  # its siblings come later, based on it
        return kind, data

    def _read_at(self, offset: int) -> tuple[int, int | bytes | None, bytes]:
        """Re-read an object already checked by the stream pass: its pack type, base and payload."""
        kind, size, base, pos = object_header(os.pread(self.fd, _HEADER_MAX, offset), 0)
        if kind == OFS_DELTA:
            base = self._place_at(offset - base)
        d = zlib_ng.decompressobj()
        chunks = []
        at = offset + pos
        while not d.eof:
            raw = os.pread(self.fd, max(4096, min(size, READ_CHUNK)), at)
            if not raw:
                raise PackRejected("pack ends inside an object")
            at += len(raw)
            chunks.append(d.decompress(raw))
        data = b"".join(chunks)
        self.churn += len(data)
        return kind, base, data

    def release(self) -> None:
        """Drop the cache: the checks that follow need the memory more."""
        self.cache.clear()
        self.cache_size = 0
        self.waiting_ofs.clear()
        self.waiting_ref.clear()
        self.deferred = array("Q")

    # --- checks ------------------------------------------------------------------------------------

    def _check(self, sha: bytes, place: int, kind: int, body: bytes) -> None:
        try:
            if kind == TREE:
                self._record_tree(sha, place, body)
            elif kind == COMMIT:
                commit = check_commit(body)
                self.links.refer(map(bytes.fromhex, map(bytes.decode, (commit.tree, *commit.parents))))
            elif kind == TAG:
                self.links.refer((bytes.fromhex(check_tag(body).decode()),))
        except (TreeRejected, ObjectRejected) as e:
            raise PackRejected(f"object {sha.hex()} rejected: {e}") from None

    def _record_tree(self, sha: bytes, place: int, body: bytes) -> None:
        # Column-wise, in C (map, compress): a push holds hundreds of thousands of entries.
        raw_modes, names, shas = check_tree_columns(body)
        links = self.links
        if b"40000" not in raw_modes and b"160000" not in raw_modes:
            # Files only (the common case): no subtrees to measure, every entry a reference.
            links.refer(shas)
            links.shapes.add(sha, place, max(map(len, names), default=0), [], [], [])
            return
        is_tree = list(map(b"40000".__eq__, raw_modes))
        # A submodule's commit lives in another repository: not this push's to deliver.
        links.refer(compress(shas, map(b"160000".__ne__, raw_modes)))
        subtrees = list(compress(shas, is_tree))
        longest = max(map(len, compress(names, map(_FILE_MODES.__contains__, raw_modes))), default=0)
        name_lengths = list(map(len, compress(names, is_tree)))
        links.shapes.add(sha, place, longest, subtrees, links.places_of(subtrees), name_lengths)


def _libc_trim() -> Callable[[], None]:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return lambda: None
    return lambda: trim(0) and None


_trim_heap = _libc_trim()


def _apply(kind: int, source: bytes, delta: bytes) -> bytes:
    try:
        chunks = apply_delta(source, delta)
    except (ApplyDeltaError, ValueError, IndexError) as e:
        raise PackRejected(f"pack has a delta that does not apply ({e})") from None
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if not data and kind != BLOB:
        # An empty commit/tree/tag made by a delta is malformed (git never writes one).
        raise PackRejected("pack has a delta that resolves to an empty object")
    return data


def _install(store: DiskObjectStore, path: Path, indexer: _Indexer, extra: list, pack_sha: bytes) -> Path:
    objects, offsets, crcs = indexer.links.objects, indexer.offsets, indexer.crcs
    ours = ((sha, offsets[place], crcs[place]) for sha, place in objects.by_name())
    # `extra`: the bases a thin pack was completed with, not the push's own objects.
    return install(Path(store.pack_dir), path, merge(ours, sorted(extra)), pack_sha)
