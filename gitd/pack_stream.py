"""The pack stream: a pushed pack read off the wire onto disk, each object inflated once, with its caps.

The first of ingest's two stages (`ingest` resolves and checks what this one yields). It parses each
object header and checks the caps *before* a byte is inflated (a zlib bomb never expands), inflates the
object, writes the pack's bytes to disk with their CRC-32 and the pack checksum, and hashes whole
objects. It yields the objects in batches, each batch on disk and flushed before it is yielded, so the
next stage may read any earlier object back from the file.

For a big pack this stage runs as a process of its own (`python -m fleetgate.gitd.pack_stream`), so that
inflating and resolving each take a core; it imports the standard library only, and starts in tens of
milliseconds. Frames on its stdout: a 4-byte length and a `marshal`led `("objects", records)`, then
`("end", trailer)` or `("error", message)`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import marshal
import os
import signal
import struct
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from zlib_ng import zlib_ng  # zlib's API; inflates a pack's objects about a third faster than zlib

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
OFS_DELTA, REF_DELTA = 6, 7
TYPE_NAMES = {COMMIT: b"commit", TREE: b"tree", BLOB: b"blob", TAG: b"tag"}
OBJECT_HEADERS = {kind: name + b" %d\0" for kind, name in TYPE_NAMES.items()}
READ_CHUNK = 1 << 20
BATCH_BYTES = 256 << 10  # of pack stream per batch: a frame costs little per object, and holds little
_HEADER_MAX = 32  # type/size varint + an ofs-delta offset or a ref-delta base sha, with room to spare
F_SETPIPE_SZ = 1031
PR_SET_PDEATHSIG = 1

# (kind, base, data, sha, offset, crc): base is None, a place (ofs-delta) or a 20-byte sha (ref-delta);
# sha is the object's own for whole objects, None for deltas (the next stage resolves them).
Record = tuple[int, Any, bytes, bytes | None, int, int]
Frame = tuple[str, Any]


class PackRejected(ValueError):
    """The pushed pack broke a cap or a rule; the message names which, for the pusher."""


# What a malformed pack makes zlib or the parsing raise; each becomes a PackRejected.
CORRUPTION = (zlib_ng.error, struct.error, EOFError, IndexError, ValueError, KeyError)


def corrupt(error: Exception) -> PackRejected:
    """The pusher's line for a pack that broke the parsing or the inflating."""
    return PackRejected(f"pack is corrupt ({type(error).__name__}: {error}); push again")


def varint(data: bytes, pos: int) -> tuple[int, int]:
    """A delta header's size varint at `pos`: (value, position after it)."""
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


def delta_result_size(delta: bytes) -> int:
    """The size of the object a delta makes, from its header."""
    _, pos = varint(delta, 0)
    return varint(delta, pos)[0]


def object_header(buf: bytes, pos: int) -> tuple[int, int, Any, int]:
    """The object header at `pos`: (kind, size, base, end), base being an ofs-delta's distance back,
    a ref-delta's base sha or None. PackRejected when it is cut short, corrupt or of an unknown type."""
    if pos >= len(buf):
        raise PackRejected("pack ends before its last object")
    byte = buf[pos]
    pos += 1
    kind, size, shift = (byte >> 4) & 7, byte & 0x0F, 4
    while byte & 0x80:
        if pos >= len(buf) or shift > 60:
            raise PackRejected("corrupt object header in pack")
        byte = buf[pos]
        pos += 1
        size |= (byte & 0x7F) << shift
        shift += 7
    base: Any = None
    if kind == OFS_DELTA:
        if pos >= len(buf):
            raise PackRejected("corrupt delta header in pack")
        byte = buf[pos]
        pos += 1
        base = byte & 0x7F
        while byte & 0x80:
            if pos >= len(buf) or base > 1 << 64:
                raise PackRejected("corrupt delta header in pack")
            byte = buf[pos]
            pos += 1
            base = ((base + 1) << 7) | (byte & 0x7F)
    elif kind == REF_DELTA:
        base = buf[pos : pos + 20]
        pos += 20
        if len(base) != 20:
            raise PackRejected("pack ends inside a delta header")
    elif kind not in TYPE_NAMES:
        raise PackRejected(f"pack holds an object of unknown type {kind}")
    return kind, size, base, pos


class PackStream:
    """One pass over a pack stream: copy it to `out`, inflate and hash each object, check the caps."""

    def __init__(self, read_some: Callable[[int], bytes], out: BinaryIO, pack_bytes: int, object_bytes: int,
                 object_count: int) -> None:  # fmt: skip
        self.read_some = read_some
        self.out = out
        self.pack_bytes, self.object_bytes, self.object_count = pack_bytes, object_bytes, object_count
        self.received = 0
        self.pack_hash = hashlib.sha1()
        self.buf = b""
        self.pos = 0  # next unread byte of buf
        self.written = 0  # bytes of buf written to disk and hashed
        self.base = 0  # pack offset of buf[0]
        self.crc = 0  # of the current object's bytes before crc_mark
        self.crc_mark = 0
        self.offsets = array("Q")  # by place: where the object starts in the pack

    def _fill(self, need: int) -> bool:
        """Have at least `need` unread bytes in the buffer; False at the end of the stream."""
        while len(self.buf) - self.pos < need:
            data = self.read_some(READ_CHUNK)
            if not data:
                return False
            self.received += len(data)
            if self.received > self.pack_bytes:
                raise PackRejected(f"pack is larger than the cap of {self.pack_bytes} bytes")
            self._spill()
            pos = self.pos
            self.buf = self.buf[pos:] + data if pos < len(self.buf) else data
            self.base += pos
            self.pos = self.written = self.crc_mark = 0
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
            self.crc = zlib_ng.crc32(memoryview(self.buf)[self.crc_mark : pos], self.crc)
            self.crc_mark = pos

    def _inflate(self, size: int) -> bytes:
        """Inflate the zlib stream at the read position, which must give exactly `size` bytes."""
        d = zlib_ng.decompressobj()
        chunks = []
        got = 0
        # Feed a window a little larger than the result can compress to: zlib copies whatever it did
        # not use, so feeding the whole buffer for each small object would copy it every time.
        window = size + (size >> 10) + 64
        while True:
            if self.pos >= len(self.buf) and not self._fill(1):
                raise PackRejected("pack ends inside an object")
            end = min(len(self.buf), self.pos + window)
            chunk = d.decompress(memoryview(self.buf)[self.pos : end], size - got + 1)
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

    def _place_at(self, offset: int) -> int:
        i = bisect_left(self.offsets, offset)
        return i if i < len(self.offsets) and self.offsets[i] == offset else -1

    def _header(self) -> tuple[int, int, Any]:
        """Parse an object header at the read position: (kind, size, base place or sha); caps checked."""
        self._fill(_HEADER_MAX)
        kind, size, base, end = object_header(self.buf, self.pos)
        if size > self.object_bytes:
            raise PackRejected(
                f"pack holds an object of {size} bytes, over the cap of {self.object_bytes} bytes"
            )
        if kind == OFS_DELTA:
            offset = self.base + self.pos
            base = self._place_at(offset - base) if base else -1
            if base < 0:
                raise PackRejected(f"delta at offset {offset} names no object as its base")
        self.pos = end
        return kind, size, base

    def frames(self) -> Iterator[Frame]:
        """Batches of records, each on disk before it is yielded; then the end frame with the trailer."""
        if not self._fill(12):
            raise PackRejected("the data sent is not a git pack")
        head = self.buf[:12]
        if head[:4] != b"PACK" or struct.unpack(">I", head[4:8])[0] not in (2, 3):
            raise PackRejected("the data sent is not a git pack")
        count = struct.unpack(">I", head[8:12])[0]
        if count > self.object_count:
            raise PackRejected(f"pack has {count} objects, over the cap of {self.object_count}")
        self.pos = 12
        batch: list[Record] = []
        mark = 0
        cap = self.object_bytes
        for _ in range(count):
            self._fill(_HEADER_MAX)
            start = self.base + self.pos
            self.crc, self.crc_mark = 0, self.pos
            kind, size, base = self._header()
            data = self._inflate(size)
            crc = self.crc = zlib_ng.crc32(memoryview(self.buf)[self.crc_mark : self.pos], self.crc)
            self.crc_mark = self.pos
            self.offsets.append(start)
            if base is None:
                h = hashlib.sha1(OBJECT_HEADERS[kind] % len(data))
                h.update(data)
                batch.append((kind, None, data, h.digest(), start, crc))
            else:
                # A small delta can describe a huge object: its header says how big the result will be.
                result_size = delta_result_size(data)
                if result_size > cap:
                    raise PackRejected(
                        f"pack holds an object of {result_size} bytes, over the cap of {cap} bytes"
                    )
                batch.append((kind, base, data, None, start, crc))
            if self.base + self.pos - mark >= BATCH_BYTES:
                mark = self.base + self.pos
                yield self._flushed(batch)
                batch = []
        if not self._fill(20):
            raise PackRejected("pack ends before its checksum")
        trailer = self.buf[self.pos : self.pos + 20]
        self._spill()
        if trailer != self.pack_hash.digest():
            raise PackRejected("pack checksum mismatch: the pack was corrupted in transit")
        self.out.write(trailer)
        if batch:
            yield self._flushed(batch)
        self.out.flush()
        yield ("end", trailer)

    def _flushed(self, batch: list[Record]) -> Frame:
        self._spill()
        self.out.flush()
        return ("objects", batch)


def send(fd: int, frame: Frame) -> None:
    """Write one frame to a pipe."""
    blob = marshal.dumps(frame)
    # The length and the batch in one call, without a joined copy of the batch.
    pending = [memoryview(struct.pack(">I", len(blob))), memoryview(blob)]
    while pending:
        sent = os.writev(fd, pending)
        while pending and sent >= len(pending[0]):
            sent -= len(pending.pop(0))
        if pending:
            pending[0] = pending[0][sent:]


def receive(stream: BinaryIO) -> Iterator[Frame]:
    """Frames from the reader process until its end or error frame; PackRejected for an error."""
    while True:
        head = stream.read(4)
        if len(head) != 4:
            raise PackRejected("the pack reader stopped before the end of the pack; push again")
        blob = stream.read(struct.unpack(">I", head)[0])
        kind, body = marshal.loads(blob)
        if kind == "error":
            raise PackRejected(body)
        yield kind, body
        if kind == "end":
            return


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """`python -m fleetgate.gitd.pack_stream FIFO PACK_PATH PACK_BYTES OBJECT_BYTES OBJECT_COUNT`."""
    _die_with_parent()
    fifo, path, pack_bytes, object_bytes, object_count = argv
    out_fd = sys.stdout.fileno()
    with contextlib.suppress(OSError):
        import fcntl

        fcntl.fcntl(out_fd, F_SETPIPE_SZ, 1 << 20)  # fewer wake-ups of the resolver per batch
    try:
        with open(fifo, "rb", buffering=0) as source, open(path, "r+b", buffering=READ_CHUNK) as out:
            stream = PackStream(source.read, out, int(pack_bytes), int(object_bytes), int(object_count))
            for frame in stream.frames():
                send(out_fd, frame)
    except PackRejected as e:
        send(out_fd, ("error", str(e)))
    except CORRUPTION as e:
        send(out_fd, ("error", str(corrupt(e))))
    except BrokenPipeError:
        return 1  # the resolver gave up (a verdict came early)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
