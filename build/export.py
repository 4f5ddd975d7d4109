"""Export: a commit's tree written from the object store into a fresh build directory (DESIGN.md §2.4)."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from docker.utils.build import exclude_paths
from dulwich.object_store import BaseObjectStore
from dulwich.objects import S_ISGITLINK, Blob, Tree

# Files fleetgate itself reads: a symlink here would make us read whatever it points at.
CONTROL_NAMES = frozenset({"docker-compose.yml", "docker-compose.yaml", "package.json", ".dockerignore"})
CONTROL_PREFIXES = ("Dockerfile",)
# balena's build-time folders: read into memory, never written into the build context.
BALENA_DIRS = (".balena", ".resin")


class ExportError(ValueError):
    """The pushed tree cannot be used as a build context; the message says what to fix."""


@dataclass(frozen=True)
class ExportLimits:
    """Caps on what one tree may write into a build directory."""

    total_bytes: int = 1024**3
    file_count: int = 100_000


@dataclass(frozen=True)
class ExportedTree:
    """A tree written to `root`: its file paths, control files and `.balena/` contents, in memory."""

    root: Path
    files: frozenset[str]
    control_files: Mapping[str, bytes] = field(default_factory=dict)
    balena_files: Mapping[str, bytes] = field(default_factory=dict)
    total_bytes: int = 0


def is_control_file(path: str) -> bool:
    """Whether fleetgate reads this file itself (Dockerfiles, compose, package.json, `.balena/`)."""
    name = posixpath.basename(path)
    return name in CONTROL_NAMES or name.startswith(CONTROL_PREFIXES) or _in_balena_dir(path)


def _in_balena_dir(path: str) -> bool:
    return path.split("/", 1)[0] in BALENA_DIRS


def _check_name(name: bytes, parent: str) -> str:
    # The receive checks ran fsck already; this is the last line of defence before the filesystem.
    text = name.decode("utf-8", "surrogateescape")
    if text in ("", ".", "..") or "/" in text or "\0" in text or text.lower() == ".git":
        shown = posixpath.join(parent, text) if parent else text
        raise ExportError(f"tree entry {shown!r} has a forbidden name; rename it and push again")
    return posixpath.join(parent, text) if parent else text


def _walk(objects: BaseObjectStore, tree_sha: bytes, parent: str = "") -> Iterator[tuple[str, int, bytes]]:
    tree = objects[tree_sha]
    if not isinstance(tree, Tree):
        raise ExportError(f"{parent or 'the root'} is not a tree; push a normal commit")
    for entry in tree.iteritems():
        path = _check_name(entry.path, parent)
        if S_ISGITLINK(entry.mode):
            continue  # submodules are never fetched (DESIGN.md §2.4)
        if stat.S_ISDIR(entry.mode):
            yield path, entry.mode, entry.sha
            yield from _walk(objects, entry.sha, path)
        else:
            yield path, entry.mode, entry.sha


def check_symlink(path: str, target: bytes) -> str:
    """Return the link target if it stays inside the tree, else raise ExportError."""
    text = target.decode("utf-8", "surrogateescape")
    if is_control_file(path):
        raise ExportError(f"{path} is a symlink; commit the file itself (control files cannot be symlinks)")
    if not text or "\0" in text or text.startswith("/"):
        raise ExportError(
            f"symlink {path} -> {text} points outside the project; use a relative link inside it"
        )
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), text))
    if resolved == ".." or resolved.startswith("../"):
        raise ExportError(f"symlink {path} -> {text} points outside the project; use a link inside it")
    return text


def _blob(objects: BaseObjectStore, sha: bytes, path: str) -> bytes:
    blob = objects[sha]
    if not isinstance(blob, Blob):
        raise ExportError(f"{path} is not a file object; push a normal commit")
    return blob.as_raw_string()


def _write_file(dest: Path, path: str, data: bytes, mode: int) -> None:
    # O_EXCL|O_NOFOLLOW: never write through anything already on disk.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    perm = 0o755 if mode & 0o111 else 0o644
    fd = os.open(dest / path, flags, perm)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(dest / path, perm)  # the umask must not drop the executable bit


def _confine_links(dest: Path, links: list[str]) -> None:
    # Lexical checks miss chains like `a -> .` plus `b -> a/..`; the filesystem does not.
    root = dest.resolve()
    for path in links:
        try:
            real = (dest / path).resolve()
        except (OSError, RuntimeError):  # a loop: Python 3.11 raises RuntimeError, 3.13 OSError
            raise ExportError(f"symlink {path} is part of a loop; remove the loop") from None
        if real != root and root not in real.parents:
            raise ExportError(f"symlink {path} resolves outside the project; use a link inside it")


class _Export:
    """One export in progress: counts against the limits and collects what it read."""

    def __init__(self, objects: BaseObjectStore, dest: Path, limits: ExportLimits) -> None:
        self.objects, self.dest, self.limits = objects, dest, limits
        self.files: set[str] = set()
        self.control: dict[str, bytes] = {}
        self.balena: dict[str, bytes] = {}
        self.links: list[tuple[str, str]] = []
        self.total = 0
        self.count = 0

    def add(self, path: str, mode: int, sha: bytes) -> None:
        if stat.S_ISDIR(mode):
            if not _in_balena_dir(path):
                os.mkdir(self.dest / path)
            return
        self.count += 1
        if self.count > self.limits.file_count:
            raise ExportError(f"the project has more than {self.limits.file_count} files; remove some")
        data = _blob(self.objects, sha, path)
        self.total += len(data)
        if self.total > self.limits.total_bytes:
            raise ExportError(f"the project is larger than {self.limits.total_bytes} bytes; make it smaller")
        if stat.S_ISLNK(mode):
            self.links.append((path, check_symlink(path, data)))
        elif _in_balena_dir(path):
            self.balena[path] = data
        else:
            if is_control_file(path):
                self.control[path] = data
            _write_file(self.dest, path, data, mode)
        if not _in_balena_dir(path):
            self.files.add(path)

    def finish(self) -> ExportedTree:
        # Links last, so no file or directory is ever written through one.
        for path, target in self.links:
            if not _in_balena_dir(path):
                os.symlink(target, self.dest / path)
        _confine_links(self.dest, [p for p, _ in self.links if not _in_balena_dir(p)])
        return ExportedTree(self.dest, frozenset(self.files), self.control, self.balena, self.total)


def export_tree(objects: BaseObjectStore, tree_sha: bytes, dest: Path, limits: ExportLimits) -> ExportedTree:
    """Write the tree `tree_sha` from `objects` into the empty directory `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ExportError(f"build directory {dest} is not empty")
    export = _Export(objects, dest, limits)
    for path, mode, sha in _walk(objects, tree_sha):
        export.add(path, mode, sha)
    return export.finish()


def dockerignore_patterns(text: str) -> list[str]:
    """The patterns of a `.dockerignore`, parsed as the docker SDK parses them."""
    return [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def context_files(context_dir: Path, dockerignore_text: str, dockerfile: str = "Dockerfile") -> list[str]:
    """Paths (files and directories, relative, sorted) the docker SDK would send as the build context."""
    return sorted(exclude_paths(str(context_dir), dockerignore_patterns(dockerignore_text), dockerfile))
