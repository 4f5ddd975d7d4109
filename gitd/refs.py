"""Ref updates: compare-and-swap, truthful about losing, all-or-nothing for `--atomic`, fsynced.

dulwich's `set_if_equals` result is ignored by its ReceivePackHandler (it reports `ok` on a lost
swap) and it does not fsync. Here every ref is locked git-style (`<ref>.lock`, O_EXCL), re-read
under the lock, compared, written, fsynced and renamed; the directory is fsynced after the rename.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .durable import fsync_dir
from .pipeline import ZERO_SHA


@dataclass(frozen=True)
class RefMove:
    """Move `ref` from `old` to `new` (ZERO_SHA for a create or a delete)."""

    ref: bytes
    old: bytes
    new: bytes


class RefLocked(RuntimeError):
    """Another writer holds the ref's lock file."""


class RefStore:
    """Loose refs of one bare repository (fleet repositories never pack their refs)."""

    def __init__(self, repo_path: Path) -> None:
        self.root = repo_path

    def _file(self, ref: bytes) -> Path:
        return self.root / ref.decode("ascii")

    def read(self, ref: bytes) -> bytes:
        """The ref's sha, following one level of `ref:` symbolic link; ZERO_SHA when absent."""
        try:
            data = self._file(ref).read_bytes().strip()
        except FileNotFoundError:
            return ZERO_SHA
        if data.startswith(b"ref: "):
            return self.read(data[5:])
        return data

    def tags(self) -> dict[bytes, bytes]:
        """Every tag (`refs/tags/…`) and the object it names."""
        root = self.root / "refs" / "tags"
        found = {}
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if path.is_file() and not path.name.endswith(".lock"):
                ref = b"refs/tags/" + path.relative_to(root).as_posix().encode()
                found[ref] = path.read_bytes().strip()
        return found

    @contextmanager
    def _lock(self, ref: bytes):
        path = self._file(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(path.name + ".lock")
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise RefLocked(f"{ref.decode()} is locked by another update") from None
        try:
            yield fd, lock, path
        finally:
            os.close(fd)
            lock.unlink(missing_ok=True)

    def apply(self, moves: Sequence[RefMove], atomic: bool) -> dict[bytes, str]:
        """Apply the moves; returns ref -> '' for moved or the reason it did not move."""
        if atomic:
            # All locks are taken and all old values compared before anything is written.
            return self._apply_each(moves)
        return {m.ref: self._apply_each([m])[m.ref] for m in moves}

    def _apply_each(self, moves: Sequence[RefMove]) -> dict[bytes, str]:
        with ExitStack() as stack:
            try:
                held = [(m, stack.enter_context(self._lock(m.ref))) for m in moves]
            except RefLocked as e:
                return {m.ref: str(e) for m in moves}
            stale = [m.ref for m, _ in held if self.read(m.ref) != m.old]
            if stale:
                return {
                    m.ref: (
                        "stale info: the ref moved during the push; fetch and push again"
                        if m.ref in stale
                        else "atomic push failed"
                    )
                    for m in moves
                }
            for m, (fd, lock, path) in held:
                self._write(m, fd, lock, path)
            for parent in {path.parent for _, (_, _, path) in held}:
                fsync_dir(parent)
        return {m.ref: "" for m in moves}

    @staticmethod
    def _write(move: RefMove, fd: int, lock: Path, path: Path) -> None:
        if move.new == ZERO_SHA:
            path.unlink(missing_ok=True)
            return
        os.write(fd, move.new + b"\n")
        os.fsync(fd)
        os.replace(lock, path)
