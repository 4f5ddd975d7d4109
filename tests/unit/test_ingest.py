"""The one-pass pack ingest: deltas resolved from a bounded cache or from the pack on disk, caps, index."""

from __future__ import annotations

import contextlib
import io
import os
import random
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from hashlib import sha1
from pathlib import Path

import pytest
from dulwich.object_store import DiskObjectStore
from dulwich.objects import Blob, Commit, Tree
from dulwich.pack import Pack, create_delta, write_pack_index_v2
from fleetgate.gitd.ingest import (
    BLOB,
    COMMIT,
    TREE,
    PackRejected,
    ingest_frames,
    ingest_pack,
)
from fleetgate.gitd.pack_index import write_index_v2
from fleetgate.gitd.pack_stream import receive
from fleetgate.gitd.quarantine import Quarantine
from fleetgate.gitd.unpack import start_pack_stream, unpack_and_check

from fleetgate.limits import Limits

OFS, REF = 6, 7


def _header(kind: int, size: int) -> bytes:
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def _ofs(distance: int) -> bytes:
    out = [distance & 0x7F]
    distance >>= 7
    while distance:
        distance -= 1
        out.insert(0, 0x80 | (distance & 0x7F))
        distance >>= 7
    return bytes(out)


def _sha(kind: int, data: bytes) -> bytes:
    name = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}[kind]
    return sha1(name + b" %d\0" % len(data) + data).digest()


class PackBuilder:
    """A pack written entry by entry: whole objects, ofs-deltas to an earlier entry, ref-deltas by sha."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.offsets: list[int] = []
        self.count = 0

    def _add(self, raw: bytes) -> int:
        self.offsets.append(12 + len(self.body))
        self.body += raw
        self.count += 1
        return self.count - 1

    def whole(self, kind: int, data: bytes) -> int:
        return self._add(_header(kind, len(data)) + zlib.compress(data))

    def ofs_delta(self, base_entry: int, source: bytes, target: bytes) -> int:
        delta = b"".join(create_delta(source, target))
        distance = 12 + len(self.body) - self.offsets[base_entry]
        return self._add(_header(OFS, len(delta)) + _ofs(distance) + zlib.compress(delta))

    def ref_delta(self, base_sha: bytes, source: bytes, target: bytes) -> int:
        delta = b"".join(create_delta(source, target))
        return self._add(_header(REF, len(delta)) + base_sha + zlib.compress(delta))

    def raw_ofs_delta(self, base_entry: int, delta: bytes) -> int:
        distance = 12 + len(self.body) - self.offsets[base_entry]
        return self._add(_header(OFS, len(delta)) + _ofs(distance) + zlib.compress(delta))

    def raw_ref_delta(self, base_sha: bytes, delta: bytes) -> int:
        return self._add(_header(REF, len(delta)) + base_sha + zlib.compress(delta))

    def pack(self) -> bytes:
        data = b"PACK" + struct.pack(">II", 2, self.count) + bytes(self.body)
        return data + sha1(data).digest()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    objects = tmp_path / "repo.git" / "objects"
    (objects / "pack").mkdir(parents=True)
    (objects / "info").mkdir()
    return objects


@pytest.fixture(params=["thread", "process"], autouse=True)
def mode(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every ingest below runs both ways: both stages in one thread, and the stream in its own process."""
    global MODE
    MODE = request.param
    yield


MODE = "thread"


def _ingest_in_a_process(quarantine: Quarantine, data: bytes, limits: Limits, cache_bytes: int, step: int):
    """The big-pack path: the pack stream as its own process (fed through a FIFO), frames over a pipe."""
    fifo = quarantine.path / "test.fifo"
    os.mkfifo(fifo)
    fd, path = tempfile.mkstemp(dir=quarantine.store.pack_dir, prefix="tmp_pack_")
    os.close(fd)
    reader = start_pack_stream(str(fifo), path, limits)

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb", buffering=0) as w:
            for at in range(0, len(data), step or len(data) or 1):
                w.write(data[at : at + (step or len(data))])

    threading.Thread(target=feed, daemon=True).start()
    try:
        with reader.stdout as frames:
            return ingest_frames(quarantine.store, Path(path), receive(frames), limits, cache_bytes)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.wait()
        Path(path).unlink(missing_ok=True)


def ingest(objects: Path, data: bytes, cache_bytes: int = 1 << 20, step: int = 0, **caps):
    """Ingest `data` into a fresh quarantine; `step` > 0 hands it out that many bytes per read."""
    quarantine = Quarantine(objects)
    stream = io.BytesIO(data)
    read_some = (lambda n: stream.read(min(n, step))) if step else stream.read
    try:
        if MODE == "process":
            pack = _ingest_in_a_process(quarantine, data, Limits(**caps), cache_bytes, step)
        else:
            pack = ingest_pack(quarantine.store, read_some, Limits(**caps), cache_bytes)
        with Pack(str(pack.pack_path.with_suffix("")), object_format=quarantine.store.object_format) as p:
            p.check()  # the index matches the pack: every object's sha and CRC
            contents = {obj.id: obj.as_raw_string() for obj in p.iterobjects()}
        return pack, contents
    finally:
        quarantine.discard()


def versions(count: int, size: int = 3000, seed: int = 1) -> list[bytes]:
    """`count` versions of a text, each a small edit of the one before."""
    rng = random.Random(seed)
    text = bytearray(rng.randbytes(size).hex().encode())
    out = []
    for _ in range(count):
        at = rng.randrange(len(text) - 10)
        text[at : at + 5] = rng.randbytes(5).hex().encode()
        out.append(bytes(text))
    return out


def test_a_delta_chain_longer_than_the_cache_resolves(repo: Path) -> None:
    texts = versions(40)
    b = PackBuilder()
    prev = b.whole(BLOB, texts[0])
    for before, after in zip(texts, texts[1:], strict=False):
        prev = b.ofs_delta(prev, before, after)
    # The cache holds one version at most: every step of the chain that is not the last one must
    # be rebuilt from the pack on disk when it is needed.
    for cache in (1 << 20, len(texts[0]) * 4 + 100, 64):
        pack, contents = ingest(repo, b.pack(), cache_bytes=cache)
        assert pack.object_count == 40
        assert sorted(contents.values()) == sorted(texts)


def test_ofs_deltas_to_a_base_in_another_chain_the_cache_forgot_resolve(repo: Path) -> None:
    a = versions(8, seed=2)
    c = versions(8, seed=3)
    b = PackBuilder()
    entry_a = [b.whole(BLOB, a[0])]
    entry_c = [b.whole(BLOB, c[0])]
    for i in range(1, 8):
        entry_a.append(b.ofs_delta(entry_a[-1], a[i - 1], a[i]))
        entry_c.append(b.ofs_delta(entry_c[-1], c[i - 1], c[i]))
    # Late deltas against the middle of chain a: their base fell out of a small cache long ago.
    late = [a[3] + b"late %d" % i for i in range(3)]
    for text in late:
        b.ofs_delta(entry_a[3], a[3], text)
    expected = sorted(a + c + late)
    for cache in (1 << 20, 8000, 100):
        _, contents = ingest(repo, b.pack(), cache_bytes=cache)
        assert sorted(contents.values()) == expected


def _file_histories(files: int, count: int) -> tuple[PackBuilder, list[bytes]]:
    """`files` files of `count` versions each, as git writes them: every file's newest version whole,
    then round by round one older version of each file, a delta of the version before it."""
    histories = [versions(count, seed=10 + f) for f in range(files)]
    b = PackBuilder()
    entries = [b.whole(BLOB, h[0]) for h in histories]
    for i in range(1, count):
        for f, h in enumerate(histories):
            entries[f] = b.ofs_delta(entries[f], h[i - 1], h[i])
    return b, [text for h in histories for text in h]


@pytest.mark.parametrize("defer_max", [1, 3, 1 << 16])
def test_blob_deltas_whose_base_the_cache_forgot_are_set_aside_and_resolved(
    repo: Path, monkeypatch: pytest.MonkeyPatch, defer_max: int
) -> None:
    # Ten files' versions interleaved: with room for a few versions, every delta finds its base gone
    # and is set aside with the versions after it; at most `defer_max` wait before they are resolved.
    monkeypatch.setattr("fleetgate.gitd.ingest.DEFER_MAX", defer_max)
    b, texts = _file_histories(10, 6)
    # A later ref-delta on a version that is set aside when it arrives waits for it in turn.
    b.ref_delta(_sha(BLOB, texts[3]), texts[3], texts[3] + b"by name")
    for cache in (1 << 20, 20_000, 64):
        pack, contents = ingest(repo, b.pack(), cache_bytes=cache)
        assert pack.object_count == 61
        assert sorted(contents.values()) == sorted([*texts, texts[3] + b"by name"])


def test_a_set_aside_delta_that_does_not_apply_is_refused(repo: Path) -> None:
    b, texts = _file_histories(4, 3)
    b.raw_ofs_delta(0, b"\x10\x05\x90\x40")  # made for a 16-byte base; the base has 6000
    with pytest.raises(PackRejected, match="pack has a delta that does not apply"):
        ingest(repo, b.pack(), cache_bytes=64)


def test_a_ref_delta_to_an_object_later_in_the_pack_waits_for_it(repo: Path) -> None:
    texts = versions(3, seed=4)
    b = PackBuilder()
    b.ref_delta(_sha(BLOB, texts[0]), texts[0], texts[1])  # its base comes last
    b.ref_delta(_sha(BLOB, texts[1]), texts[1], texts[2])  # based on the delta before it
    b.whole(BLOB, texts[0])
    for cache in (1 << 20, 64):
        _, contents = ingest(repo, b.pack(), cache_bytes=cache)
        assert sorted(contents.values()) == sorted(texts)


def test_a_ref_delta_nothing_provides_is_refused(repo: Path) -> None:
    b = PackBuilder()
    b.ref_delta(bytes(range(20)), b"base" * 100, b"base" * 99 + b"next")
    with pytest.raises(PackRejected, match="does not resolve"):
        ingest(repo, b.pack())


def test_ref_deltas_in_a_cycle_are_refused(repo: Path) -> None:
    x, y = b"x" * 500, b"y" * 500
    b = PackBuilder()
    b.ref_delta(_sha(BLOB, y), y, x)
    b.ref_delta(_sha(BLOB, x), x, y)
    with pytest.raises(PackRejected, match="does not resolve"):
        ingest(repo, b.pack())


def test_a_thin_pack_is_completed_from_the_repository(repo: Path) -> None:
    texts = versions(2, seed=5)
    store = DiskObjectStore(str(repo))
    blob = Blob.from_string(texts[0])
    store.add_object(blob)
    store.close()
    b = PackBuilder()
    b.ref_delta(blob.sha().digest(), texts[0], texts[1])
    pack, contents = ingest(repo, b.pack())
    assert pack.object_count == 2  # the base was appended to the pack
    assert sorted(contents.values()) == sorted(texts)
    assert pack.links.kind_of(blob.sha().digest()) is None  # it was not the push's to deliver


def test_the_same_object_twice_is_refused(repo: Path) -> None:
    b = PackBuilder()
    b.whole(BLOB, b"same")
    b.whole(BLOB, b"same")
    with pytest.raises(PackRejected, match="twice"):
        ingest(repo, b.pack())


def test_a_delta_whose_result_is_over_the_cap_is_refused_before_it_is_applied(repo: Path) -> None:
    base = b"0123456789abcdef" * 4096  # 64 KiB
    b = PackBuilder()
    b.whole(BLOB, base)
    copies = 20  # b"\x80" alone copies 64 KiB from offset 0: 1.3 MB from 20 bytes of delta
    delta = _varint(len(base)) + _varint(copies * len(base)) + b"\x80" * copies
    b.raw_ref_delta(_sha(BLOB, base), delta)
    with pytest.raises(PackRejected, match="over the cap of 1000000 bytes"):
        ingest(repo, b.pack(), object_bytes=1_000_000)


def test_an_object_that_inflates_past_its_header_is_refused(repo: Path) -> None:
    data = b"a" * 100_000
    body = _header(BLOB, 10) + zlib.compress(data)
    raw = b"PACK" + struct.pack(">II", 2, 1) + body
    with pytest.raises(PackRejected, match="larger than its header"):
        ingest(repo, raw + sha1(raw).digest())


def test_a_corrupt_checksum_is_refused(repo: Path) -> None:
    b = PackBuilder()
    b.whole(BLOB, b"data")
    data = bytearray(b.pack())
    data[-1] ^= 1
    with pytest.raises(PackRejected, match="checksum"):
        ingest(repo, bytes(data))


def test_reads_of_any_size_give_the_same_pack(repo: Path) -> None:
    texts = versions(12, size=20_000, seed=6)
    blobs = [Blob.from_string(t) for t in texts]
    tree = Tree()
    for i, blob in enumerate(blobs):
        tree.add(b"f%02d" % i, 0o100644, blob.id)
    commit = Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"t <t@example.org>"
    commit.author_time = commit.commit_time = 1700000000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"m\n"
    b = PackBuilder()
    b.whole(COMMIT, commit.as_raw_string())
    b.whole(TREE, tree.as_raw_string())
    prev = b.whole(BLOB, texts[0])
    for before, after in zip(texts, texts[1:], strict=False):
        prev = b.ofs_delta(prev, before, after)
    data = b.pack()
    for step in (1, 3, 7, 4096, 0):
        pack, contents = ingest(repo, data, cache_bytes=50_000, step=step)
        assert len(contents) == 14
        assert pack.links.kind_of(commit.sha().digest()) == COMMIT
        assert pack.links.kind_of(tree.sha().digest()) == TREE
        assert pack.links.objects.sha_at(pack.links.objects.get(tree.sha().digest())) == tree.sha().digest()


def test_the_index_is_git_s_version_2_even_past_2_gib(tmp_path: Path) -> None:

    rng = random.Random(7)
    rows = sorted((rng.randbytes(20), rng.randrange(1 << 34), rng.randrange(1 << 32)) for _ in range(5000))
    ours, theirs = io.BytesIO(), io.BytesIO()
    names_sha = write_index_v2(ours, iter(rows), b"P" * 20)
    write_pack_index_v2(theirs, rows, b"P" * 20)
    assert ours.getvalue() == theirs.getvalue()
    assert names_sha == sha1(b"".join(r[0] for r in rows)).digest()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def test_nothing_is_left_behind_after_a_rejection(repo: Path) -> None:
    b = PackBuilder()
    b.whole(BLOB, b"same")
    b.whole(BLOB, b"same")
    with pytest.raises(PackRejected):
        ingest(repo, b.pack())
    assert not os.listdir(repo / "pack")


def _commit_of(tree: Tree) -> Commit:
    commit = Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"t <t@example.org>"
    commit.author_time = commit.commit_time = 1700000000
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"m\n"
    return commit


def check(objects: Path, data: bytes, tips: list[bytes]) -> None:
    quarantine = Quarantine(objects)
    stream = io.BytesIO(data)
    try:
        unpack_and_check(quarantine.store, objects, stream.read, Limits(), tips)
    finally:
        quarantine.discard()


def test_references_to_objects_later_in_the_pack_are_connected(repo: Path) -> None:
    blob = Blob.from_string(b"content\n")
    sub = Tree()
    sub.add(b"file", 0o100644, blob.id)
    root = Tree()
    root.add(b"dir", 0o040000, sub.id)
    commit = _commit_of(root)
    b = PackBuilder()
    for obj in (commit, root, sub, blob):  # git's order: every reference points forward
        b.whole(obj.type_num, obj.as_raw_string())
    check(repo, b.pack(), [commit.id])


def test_an_object_referenced_and_never_sent_is_missing(repo: Path) -> None:
    blob = Blob.from_string(b"content\n")
    root = Tree()
    root.add(b"file", 0o100644, blob.id)
    commit = _commit_of(root)
    b = PackBuilder()
    for obj in (commit, root):
        b.whole(obj.type_num, obj.as_raw_string())
    with pytest.raises(PackRejected, match=f"missing object {blob.id.decode()}"):
        check(repo, b.pack(), [commit.id])


def test_a_tip_that_is_a_blob_is_refused(repo: Path) -> None:
    blob = Blob.from_string(b"content\n")
    b = PackBuilder()
    b.whole(BLOB, blob.as_raw_string())
    with pytest.raises(PackRejected, match="is not a commit"):
        check(repo, b.pack(), [blob.id])


def nested(depth: int, name: bytes = b"d", bottom_up: bool = False) -> tuple[list, Commit]:
    """A commit whose tree nests `depth` levels of directories `name` above one file.

    In git's order (each tree before the subtrees it introduces), or each subtree before its parent.
    """
    blob = Blob.from_string(b"leaf\n")
    tree = Tree()
    tree.add(b"f", 0o100644, blob.id)
    objects = [blob, tree]
    for _ in range(depth - 1):
        parent = Tree()
        parent.add(name, 0o040000, tree.id)
        objects.append(parent)
        tree = parent
    commit = _commit_of(tree)
    return ([*objects, commit] if bottom_up else [commit, *reversed(objects)]), commit


@pytest.mark.parametrize("bottom_up", [False, True], ids=["top-down", "bottom-up"])
@pytest.mark.parametrize(("depth", "ok"), [(4, True), (5, False)])
def test_the_tree_depth_cap(repo: Path, depth: int, ok: bool, bottom_up: bool) -> None:
    objects, commit = nested(depth, bottom_up=bottom_up)
    b = PackBuilder()
    for obj in objects:
        b.whole(obj.type_num, obj.as_raw_string())
    quarantine = Quarantine(repo)
    stream = io.BytesIO(b.pack())
    try:
        run = lambda: unpack_and_check(  # noqa: E731
            quarantine.store, repo, stream.read, Limits(tree_depth=4), [commit.id]
        )
        if ok:
            run()
        else:
            with pytest.raises(PackRejected, match="nested 5 deep, over the cap of 4"):
                run()
    finally:
        quarantine.discard()


@pytest.mark.parametrize("bottom_up", [False, True], ids=["top-down", "bottom-up"])
def test_the_path_length_cap_counts_every_level(repo: Path, bottom_up: bool) -> None:
    # "x"*10 + "/" + "x"*10 + "/" + "f": 23 bytes
    objects, commit = nested(3, name=b"x" * 10, bottom_up=bottom_up)
    b = PackBuilder()
    for obj in objects:
        b.whole(obj.type_num, obj.as_raw_string())
    for cap, ok in ((23, True), (22, False)):
        quarantine = Quarantine(repo)
        stream = io.BytesIO(b.pack())
        try:
            if ok:
                unpack_and_check(quarantine.store, repo, stream.read, Limits(path_bytes=cap), [commit.id])
            else:
                with pytest.raises(PackRejected, match="23 bytes long, over the cap of 22"):
                    unpack_and_check(quarantine.store, repo, stream.read, Limits(path_bytes=cap), [commit.id])
        finally:
            quarantine.discard()
