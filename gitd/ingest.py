"""Pack ingestion: stream a pushed pack into a quarantine with caps, resolve and check it in one pass.

dulwich's `add_thin_pack` inflates every object three times (copy, index, validate) and lands the
pack in the repository before any decision. Here each object is inflated once, while the pack streams
to disk: its header is checked against the caps *before* a byte is inflated, a whole object is hashed
and fsck-checked (commit/tree/tag) while it is in hand, and a delta is applied at once to its base,
which is almost always still in a cache of recently resolved objects bounded in bytes (git writes a
base shortly before its deltas). A base that fell out of the cache is rebuilt from the part of the
pack already on disk; a delta whose base has not arrived yet (a ref-delta to a later object) waits
for it. Connectivity and the tree depth/path caps are then answered from the links recorded on the
way, without touching the pack again. Per-object state is kept in arrays, not Python objects.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import struct
import sys
import tempfile
import zlib
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import compress, filterfalse
from pathlib import Path

from dulwich.errors import ApplyDeltaError
from dulwich.object_store import DiskObjectStore
from dulwich.pack import apply_delta, extend_pack

from fleetgate.limits import Limits

from .fsck import ObjectRejected, TreeRejected, check_commit, check_tag, check_tree_columns

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
OFS_DELTA, REF_DELTA = 6, 7
_FILE_MODES = frozenset((b"100644", b"100755", b"100664", b"120000"))
_TYPE_NAMES = {COMMIT: b"commit", TREE: b"tree", BLOB: b"blob", TAG: b"tag"}
_OBJECT_HEADERS = {kind: name + b" %d\0" for kind, name in _TYPE_NAMES.items()}

READ_CHUNK = 1 << 20
# Resolved objects kept for the deltas that follow them; one object may take a quarter of it.
CACHE_BYTES = 32 << 20
# The cache's objects come and go by the hundred thousand: the C heap they leave holes in is given
# back to the system this often (glibc keeps it otherwise, and RssAnon grew with the pack).
TRIM_EVERY = 16 << 20
ENTRY_COST = 200  # what a cache entry costs besides its data (key, tuple, the ordered dict's node)
_HEADER_MAX = 32  # type/size varint + an ofs-delta offset or a ref-delta base sha, with room to spare


class PackRejected(ValueError):
    """The pushed pack broke a cap or a rule; the message names which, for the pusher."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    size = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise PackRejected("corrupt delta header in pack")
        byte = data[pos]
        pos += 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return size, pos


def _delta_result_size(delta: bytes) -> int:
    _, pos = _varint(delta, 0)
    return _varint(delta, pos)[0]


class TreeShapes:
    """For each tree of the pack: its longest file name and its subtrees (sha, name length), in arrays.

    What the depth and path-length caps need, at a few dozen bytes a tree instead of a few hundred.
    """

    def __init__(self) -> None:
        self.shas = bytearray()  # 20 bytes a tree
        self.longest = array("I")  # by tree: its longest file (not subtree) name
        self.starts = array("I")  # by tree: where its subtrees start in the two arrays below
        self.subtree_shas = bytearray()  # 20 bytes a subtree entry
        self.name_lengths = array("I")  # by subtree entry: the length of its name

    def __len__(self) -> int:
        return len(self.longest)

    def add(self, sha: bytes, longest: int, subtree_shas: bytes, name_lengths) -> None:
        self.shas += sha
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
    """What the pack's objects are and point at, recorded while each object is in hand.

    Compact on purpose: a 300 MB push has hundreds of thousands of objects, and a Python object per
    reference would cost more memory than the pack streaming does.
    """

    present: dict[bytes, int] = field(default_factory=dict)  # every object in the pack -> its place
    missing: set[bytes] = field(default_factory=set)  # referenced by the pack and not in it (so far)
    kinds: bytearray = field(default_factory=bytearray)  # object type by place (0: not resolved)
    trees: TreeShapes = field(default_factory=TreeShapes)

    def kind_of(self, sha: bytes) -> int | None:
        """The type of an object of the pack, or None when the pack does not hold it."""
        place = self.present.get(sha)
        return None if place is None else self.kinds[place]


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


# What a malformed pack makes zlib or dulwich's delta code raise; each becomes a PackRejected.
CORRUPTION = (zlib.error, ApplyDeltaError, struct.error, EOFError, IndexError, ValueError, KeyError)


def ingest_pack(
    quarantine: DiskObjectStore,
    read_all: Callable[[int], bytes],
    read_some: Callable[[int], bytes],
    limits: Limits,
    cache_bytes: int = CACHE_BYTES,
) -> IngestedPack:
    """Receive one pack from the wire into `quarantine`, completing thin packs from its alternates.

    `read_all` is unused (kept for the callers' signature): everything is read with `read_some`.
    """
    del read_all
    counter = [0]
    read_some = _bounded(read_some, limits.pack_bytes, counter)
    fd, path = tempfile.mkstemp(dir=quarantine.pack_dir, prefix="tmp_pack_")
    try:
        with os.fdopen(fd, "w+b") as f:
            indexer = _Indexer(read_some, f, quarantine, limits, cache_bytes)
            try:
                indexer.run()
            except PackRejected:
                raise
            except CORRUPTION as e:
                raise PackRejected(f"pack is corrupt ({type(e).__name__}: {e}); push again") from None
            links = indexer.links
            pack_sha = indexer.trailer
            extra: list[tuple[bytes, int, int]] = []
            ext_refs = {sha for sha in indexer.external if sha not in links.present}
            if ext_refs:
                # A thin pack: append the bases it left out so that the pack stands on its own.
                pack_sha, extra = extend_pack(
                    f, ext_refs, get_raw=quarantine.get_raw, object_format=quarantine.object_format
                )
            f.flush()
            os.fsync(f.fileno())
            indexer.release()
        final = _install(quarantine, Path(path), indexer, extra, pack_sha)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return IngestedPack(pack_path=final, object_count=len(indexer.offsets) + len(extra), links=links)


class _Indexer:
    """One pass over the pack stream: copy to disk, inflate, resolve deltas, hash, check, record."""

    def __init__(self, read_some, out, store: DiskObjectStore, limits: Limits, cache_bytes: int) -> None:
        self.read_some = read_some
        self.out = out
        self.fd = out.fileno()
        self.store = store
        self.limits = limits
        self.pack_hash = hashlib.sha1()
        self.buf = b""
        self.pos = 0  # next unread byte of buf
        self.written = 0  # bytes of buf written to disk and hashed
        self.base = 0  # pack offset of buf[0]
        self.crc = 0
        self.crc_mark = 0
        self.links = Links()
        self.offsets = array("Q")  # by place: where the object starts in the pack
        self.crcs = array("I")  # by place: CRC-32 of the object's bytes in the pack
        self.external: set[bytes] = set()  # ref-delta bases taken from the repository
        self.cache: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self.cache_size = 0
        self.cache_bytes = cache_bytes
        self.cache_item = cache_bytes // 4
        self.waiting_ofs: dict[int, list[int]] = {}  # unresolved base place -> deltas waiting on it
        self.waiting_ref: dict[bytes, list[int]] = {}  # base sha not seen yet -> deltas waiting on it
        self.trailer = b""
        self.next_trim = TRIM_EVERY

    # --- the stream --------------------------------------------------------------------------------

    def _fill(self, need: int) -> bool:
        """Have at least `need` unread bytes in the buffer; False at the end of the stream."""
        while len(self.buf) - self.pos < need:
            data = self.read_some(READ_CHUNK)
            if not data:
                return False
            self._spill()
            pos = self.pos
            self.buf = self.buf[pos:] + data if pos < len(self.buf) else data
            self.base += pos
            self.pos = self.written = self.crc_mark = 0
            if self.base >= self.next_trim:
                self.next_trim = self.base + TRIM_EVERY
                _trim_heap()
        return True

    def _spill(self) -> None:
        """Write and hash the bytes read so far; the current object's CRC carries over."""
        pos = self.pos
        if self.written < pos:
            view = memoryview(self.buf)[self.written : pos]
            self.out.write(view)
            self.pack_hash.update(view)
            self.written = pos
        if self.crc_mark < pos:
            self.crc = zlib.crc32(memoryview(self.buf)[self.crc_mark : pos], self.crc)
            self.crc_mark = pos

    def _sync(self) -> None:
        """Put everything read so far on disk, for reads at an offset (a base out of the cache)."""
        self._spill()
        self.out.flush()

    def _inflate(self, size: int) -> bytes:
        """Inflate the zlib stream at the read position, which must give exactly `size` bytes."""
        d = zlib.decompressobj()
        chunks = []
        got = 0
        # Feed a window a little larger than the result can compress to: zlib copies whatever it did
        # not use, so feeding the whole buffer for each small object would copy it every time.
        window = size + (size >> 10) + 64
        while True:
            if self.pos >= len(self.buf) and not self._fill(1):
                raise PackRejected("pack ends inside an object")
            end = min(len(self.buf), self.pos + window)
            view = memoryview(self.buf)[self.pos : end]
            chunk = d.decompress(view, size - got + 1)
            got += len(chunk)
            if d.unconsumed_tail or got > size:
                raise PackRejected("pack holds an object larger than its header says")
            chunks.append(chunk)
            if d.eof:
                self.pos = end - len(d.unused_data)
                break
            self.pos = end
            window = len(self.buf)
        if got != size:
            raise PackRejected("pack holds an object smaller than its header says")
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def run(self) -> None:
        if not self._fill(12):
            raise PackRejected("the data sent is not a git pack")
        head = self.buf[:12]
        if head[:4] != b"PACK" or struct.unpack(">I", head[4:8])[0] not in (2, 3):
            raise PackRejected("the data sent is not a git pack")
        count = struct.unpack(">I", head[8:12])[0]
        if count > self.limits.object_count:
            raise PackRejected(f"pack has {count} objects, over the cap of {self.limits.object_count}")
        self.pos = 12
        cap = self.limits.object_bytes
        offsets, crcs, kinds = self.offsets, self.crcs, self.links.kinds
        for place in range(count):
            self._fill(_HEADER_MAX)
            buf = self.buf
            pos = self.pos
            offset = self.base + pos
            self.crc = 0
            self.crc_mark = pos
            if pos >= len(buf):
                raise PackRejected("pack ends before its last object")
            byte = buf[pos]
            pos += 1
            kind = (byte >> 4) & 7
            size = byte & 0x0F
            shift = 4
            while byte & 0x80:
                if pos >= len(buf) or shift > 60:
                    raise PackRejected("corrupt object header in pack")
                byte = buf[pos]
                pos += 1
                size |= (byte & 0x7F) << shift
                shift += 7
            # The header's size is checked before a single byte is inflated (a zlib bomb never expands).
            if size > cap:
                raise PackRejected(f"pack holds an object of {size} bytes, over the cap of {cap} bytes")
            base: int | bytes | None = None
            if kind == OFS_DELTA:
                if pos >= len(buf):
                    raise PackRejected("corrupt delta header in pack")
                byte = buf[pos]
                pos += 1
                distance = byte & 0x7F
                while byte & 0x80:
                    if pos >= len(buf) or distance > 1 << 64:
                        raise PackRejected("corrupt delta header in pack")
                    byte = buf[pos]
                    pos += 1
                    distance = ((distance + 1) << 7) | (byte & 0x7F)
                base = self._place_at(offset - distance) if distance else -1
                if base < 0:
                    raise PackRejected(f"delta at offset {offset} names no object as its base")
            elif kind == REF_DELTA:
                base = buf[pos : pos + 20]
                pos += 20
                if len(base) != 20:
                    raise PackRejected("pack ends inside a delta header")
            elif kind not in _TYPE_NAMES:
                raise PackRejected(f"pack holds an object of unknown type {kind}")
            self.pos = pos
            data = self._inflate(size)
            self.crc = zlib.crc32(memoryview(self.buf)[self.crc_mark : self.pos], self.crc)
            self.crc_mark = self.pos
            offsets.append(offset)
            crcs.append(self.crc)
            kinds.append(0)
            if base is None:
                self._resolved(place, kind, data)
                continue
            # A small delta can describe a huge object: its header says how big the result will be.
            result_size = _delta_result_size(data)
            if result_size > cap:
                raise PackRejected(
                    f"pack holds an object of {result_size} bytes, over the cap of {cap} bytes"
                )
            self._delta(place, base, data)
        if not self._fill(20):
            raise PackRejected("pack ends before its checksum")
        self.trailer = self.buf[self.pos : self.pos + 20]
        self._spill()
        if self.trailer != self.pack_hash.digest():
            raise PackRejected("pack checksum mismatch: the pack was corrupted in transit")
        self.out.write(self.trailer)
        self.buf = b""
        self.pos = 0
        if self.waiting_ofs or self.waiting_ref:
            base = next(iter(self.waiting_ref), None)
            named = f" (no object {base.hex()})" if base is not None else ""
            raise PackRejected(f"pack has a delta that does not resolve{named}")

    def _place_at(self, offset: int) -> int:
        """The place of the object that starts at `offset`, or -1."""
        i = bisect_left(self.offsets, offset)
        return i if i < len(self.offsets) and self.offsets[i] == offset else -1

    # --- resolution --------------------------------------------------------------------------------

    def _delta(self, place: int, base: int | bytes, delta: bytes) -> None:
        """Resolve a delta that just arrived, or leave it waiting for its base."""
        if isinstance(base, int):
            if not self.links.kinds[base]:
                self.waiting_ofs.setdefault(base, []).append(place)
                return
            kind, source = self._data_of(base)
        else:
            at = self.links.present.get(base)
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

    def _resolved(self, place: int, kind: int, data: bytes) -> None:
        """Hash, check and record one object; then resolve whatever was waiting for it."""
        sha = self._record(place, kind, data)
        if self.waiting_ofs or self.waiting_ref:
            self._wake(place, sha)

    def _wake(self, place: int, sha: bytes) -> None:
        # Only places and shas wait in line: the data is taken again from the cache (or the disk)
        # when its turn comes, so a wide fan of waiting deltas holds no more memory than the cache.
        todo = [(place, sha)]
        while todo:
            place, sha = todo.pop()
            waiting = self.waiting_ofs.pop(place, []) + self.waiting_ref.pop(sha, [])
            if not waiting:
                continue
            kind, data = self._data_of(place)
            for child in waiting:
                delta = self._read_at(self.offsets[child])[2]
                todo.append((child, self._record(child, kind, _apply(kind, data, delta))))

    def _record(self, place: int, kind: int, data: bytes) -> bytes:
        h = hashlib.sha1(_OBJECT_HEADERS[kind] % len(data))
        h.update(data)
        sha = h.digest()
        links = self.links
        if sha in links.present:
            raise PackRejected(f"pack holds object {sha.hex()} twice")
        links.present[sha] = place
        links.kinds[place] = kind
        links.missing.discard(sha)
        if kind != BLOB:
            self._check(sha, kind, data)
        self._keep(place, kind, data)
        return sha

    def _keep(self, place: int, kind: int, data: bytes) -> None:
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
        self._sync()
        chain: list[int] = []  # deltas to apply, last first; walked with offsets only
        while True:
            kind, base, data = self._read_at(self.offsets[place])
            if base is None:
                break
            chain.append(place)
            if isinstance(base, int):
                place = base
            else:
                at = self.links.present.get(base)
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
        self._sync()
        head = os.pread(self.fd, _HEADER_MAX, offset)
        byte = head[0]
        pos = 1
        kind = (byte >> 4) & 7
        size = byte & 0x0F
        shift = 4
        while byte & 0x80:
            byte = head[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
        base: int | bytes | None = None
        if kind == OFS_DELTA:
            byte = head[pos]
            pos += 1
            distance = byte & 0x7F
            while byte & 0x80:
                byte = head[pos]
                pos += 1
                distance = ((distance + 1) << 7) | (byte & 0x7F)
            base = self._place_at(offset - distance)
        elif kind == REF_DELTA:
            base = head[pos : pos + 20]
            pos += 20
        d = zlib.decompressobj()
        chunks = []
        at = offset + pos
        while not d.eof:
            raw = os.pread(self.fd, max(4096, min(size, READ_CHUNK)), at)
            if not raw:
                raise PackRejected("pack ends inside an object")
            at += len(raw)
            chunks.append(d.decompress(raw))
        return kind, base, b"".join(chunks)

    def release(self) -> None:
        """Drop the cache: the checks that follow need the memory more."""
        self.cache.clear()
        self.cache_size = 0
        self.waiting_ofs.clear()
        self.waiting_ref.clear()

    # --- checks ------------------------------------------------------------------------------------

    def _check(self, sha: bytes, kind: int, body: bytes) -> None:
        try:
            if kind == TREE:
                self._record_tree(sha, body)
            elif kind == COMMIT:
                commit = check_commit(body)
                self._refer(bytes.fromhex(commit.tree.decode()))
                for parent in commit.parents:
                    self._refer(bytes.fromhex(parent.decode()))
            elif kind == TAG:
                self._refer(bytes.fromhex(check_tag(body).decode()))
        except (TreeRejected, ObjectRejected) as e:
            raise PackRejected(f"object {sha.hex()} rejected: {e}") from None

    def _record_tree(self, sha: bytes, body: bytes) -> None:
        # Column-wise, in C (map, compress, filterfalse): a push holds hundreds of thousands of entries.
        raw_modes, names, shas = check_tree_columns(body)
        present = self.links.present
        if b"40000" not in raw_modes and b"160000" not in raw_modes:
            # Files only (the common case): no subtrees to remember, every entry a possible reference.
            self.links.trees.add(sha, max(map(len, names), default=0), b"", ())
        else:
            is_tree = list(map(b"40000".__eq__, raw_modes))
            is_file = list(map(_FILE_MODES.__contains__, raw_modes))
            longest = max(map(len, compress(names, is_file)), default=0)
            subtrees = b"".join(compress(shas, is_tree))
            self.links.trees.add(sha, longest, subtrees, map(len, compress(names, is_tree)))
            # A submodule's commit lives in another repository: not this push's to deliver.
            shas = compress(shas, map(b"160000".__ne__, raw_modes))
        # Most entries name objects the pack already delivered, or one another tree named already.
        self.links.missing.update(filterfalse(present.__contains__, shas))

    def _refer(self, sha: bytes) -> None:
        if sha not in self.links.present:
            self.links.missing.add(sha)


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
    """Name the pack by its contents and write its index; the .idx last, so readers never see half."""
    present = indexer.links.present
    offsets, crcs = indexer.offsets, indexer.crcs
    names = sorted(present)
    where = array("Q", [offsets[present[n]] for n in names])
    checks = array("I", [crcs[present[n]] for n in names])
    if extra:
        rows = sorted([*zip(names, where, checks, strict=True), *extra])
        names = [row[0] for row in rows]
        where = array("Q", [row[1] for row in rows])
        checks = array("I", [row[2] for row in rows])
    base = Path(store.pack_dir) / f"pack-{hashlib.sha1(b''.join(names)).hexdigest()}"
    os.rename(path, base.with_suffix(".pack"))
    tmp_idx = base.with_suffix(".idx.tmp")
    with open(tmp_idx, "wb") as idx:
        idx.write(_index_v2(names, where, checks, pack_sha))
        idx.flush()
        os.fsync(idx.fileno())
    os.rename(tmp_idx, base.with_suffix(".idx"))
    return base.with_suffix(".pack")


def _index_v2(names: list[bytes], offsets: array, crcs: array, pack_sha: bytes) -> bytes:
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
