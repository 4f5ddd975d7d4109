"""A hand-driven receive-pack client over the real OpenSSH client, for pushes real git will not send."""

from __future__ import annotations

import shlex
import struct
import subprocess
import zlib
from dataclasses import dataclass
from hashlib import sha1

from dulwich.objects import Blob, Commit, ShaFile, Tree


def pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line


@dataclass
class Report:
    """What the server answered: unpack status and per-ref status lines, plus progress text."""

    unpack: str
    refs: dict[str, str]
    progress: str


class RawPush:
    """`ssh … git-receive-pack '<path>'` with pipes; the caller decides what to send and when."""

    def __init__(self, ssh_command: str, port: int, path: str) -> None:
        argv = shlex.split(ssh_command) + ["-p", str(port), "127.0.0.1", f"git-receive-pack '{path}'"]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def _read_pkt(self) -> bytes | None:
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise EOFError(self.proc.stderr.read().decode(errors="replace"))
        size = int(head, 16)
        return None if size == 0 else self.proc.stdout.read(size - 4)

    def advertisement(self) -> dict[str, str]:
        refs = {}
        while (line := self._read_pkt()) is not None:
            sha, _, rest = line.rstrip(b"\n").partition(b" ")
            refs[rest.split(b"\0")[0].decode()] = sha.decode()
        return refs

    def send_commands(
        self,
        commands: list[tuple[str, str, str]],
        caps: str = "report-status side-band-64k",
        options: list[str] | None = None,
    ) -> None:
        out = b""
        for i, (old, new, ref) in enumerate(commands):
            line = f"{old} {new} {ref}".encode()
            if i == 0:
                line += b"\0" + caps.encode()
            out += pkt(line + b"\n")
        out += b"0000"
        if options is not None:
            out += b"".join(pkt(o.encode() + b"\n") for o in options) + b"0000"
        self.proc.stdin.write(out)
        self.proc.stdin.flush()

    def send(self, data: bytes, close: bool = True) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        if close:
            self.proc.stdin.close()

    def report(self) -> Report:
        data, progress = b"", b""
        while (line := self._read_pkt()) is not None:
            band, payload = line[0], line[1:]
            if band == 1:
                data += payload
            elif band == 2:
                progress += payload
        lines, pos = [], 0
        while pos + 4 <= len(data):
            size = int(data[pos : pos + 4], 16)
            if size == 0:
                break
            lines.append(data[pos + 4 : pos + size].rstrip(b"\n").decode())
            pos += size
        self.proc.wait(30)
        unpack = lines[0].removeprefix("unpack ") if lines else ""
        refs = {}
        for line in lines[1:]:
            status, ref, *reason = line.split(" ", 2)
            refs[ref] = "ok" if status == "ok" else (reason[0] if reason else "ng")
        return Report(unpack, refs, progress.decode(errors="replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _header(type_num: int, size: int) -> bytes:
    byte = (type_num << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


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


def pack_of(entries: list[tuple[int, bytes, bytes]]) -> bytes:
    """A pack from (type, header-size-or-data, extra) raw entries: type 1-4 objects, 7 ref-deltas."""
    body = b"PACK" + struct.pack(">II", 2, len(entries))
    for type_num, data, base in entries:
        body += _header(type_num, len(data)) + base + zlib.compress(data)
    return body + sha1(body).digest()


def pack_objects(objects: list[ShaFile]) -> bytes:
    """A plain pack holding these objects whole."""
    return pack_of([(o.type_num, o.as_raw_string(), b"") for o in objects])


def delta_bomb(base: Blob, copies: int) -> bytes:
    """A valid ref-delta against a 64 KiB `base` that expands to `copies` × 64 KiB: bytes on the wire,
    hundreds of MiB once applied."""
    assert len(base.data) == 0x10000
    # 0x80 alone is "copy 0x10000 bytes from offset 0": one byte of delta per 64 KiB of result.
    delta = _varint(0x10000) + _varint(copies * 0x10000) + b"\x80" * copies
    return pack_of([(7, delta, base.sha().digest())])


def commit_of(tree: Tree, parents: list[bytes] | None = None, message: bytes = b"m\n") -> Commit:
    c = Commit()
    c.tree = tree.id
    c.parents = parents or []
    c.author = c.committer = b"t <t@example.org>"
    c.author_time = c.commit_time = 1700000000
    c.author_timezone = c.commit_timezone = 0
    c.message = message
    return c


def raw_tree(entries: list[tuple[bytes, bytes, bytes]]) -> Tree:
    """A tree object from (mode, name, hex sha) entries exactly as given (no sorting, no checks)."""
    body = b"".join(mode + b" " + name + b"\0" + bytes.fromhex(sha.decode()) for mode, name, sha in entries)
    return Tree.from_raw_string(Tree.type_num, body)
