"""Export: trees from a MemoryObjectStore written into a build directory, as tables of exact results."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from dulwich.object_store import MemoryObjectStore
from dulwich.objects import S_IFGITLINK, Blob, Tree
from fleetgate.build.export import (
    ExportedTree,
    ExportError,
    ExportLimits,
    check_symlink,
    context_files,
    dockerignore_patterns,
    export_tree,
    is_control_file,
)

FILE, EXEC, LINK, DIR = 0o100644, 0o100755, 0o120000, 0o040000


def store_tree(store: MemoryObjectStore, entries: dict) -> bytes:
    """Build a tree from {name: (mode, bytes) | dict | ('gitlink', sha)} and return its sha."""
    tree = Tree()
    for name, value in entries.items():
        if isinstance(value, dict):
            tree.add(name.encode(), DIR, store_tree(store, value))
        elif value[0] == "gitlink":
            tree.add(name.encode(), S_IFGITLINK, value[1])
        else:
            blob = Blob.from_string(value[1])
            store.add_object(blob)
            tree.add(name.encode(), value[0], blob.id)
    store.add_object(tree)
    return tree.id


def export(tmp_path: Path, entries: dict, limits: ExportLimits | None = None) -> ExportedTree:
    store = MemoryObjectStore()
    return export_tree(store, store_tree(store, entries), tmp_path / "ctx", limits or ExportLimits())


PROJECT = {
    "Dockerfile": (FILE, b"FROM busybox-fg\n"),
    "run.sh": (EXEC, b"#!/bin/sh\n"),
    "src": {"app.txt": (FILE, b"hello"), "link": (LINK, b"../run.sh")},
    "svc": {"Dockerfile.template": (FILE, b"FROM x\n"), "package.json": (FILE, b"{}")},
    ".balena": {"balena.yml": (FILE, b"build-variables: {}\n"), "secrets": {"token": (FILE, b"s3cret")}},
    ".resin": {"resin.yml": (FILE, b"x: 1\n")},
    "vendor": ("gitlink", b"a" * 40),
}


def test_export_writes_files_modes_links_and_keeps_balena_in_memory(tmp_path: Path) -> None:
    tree = export(tmp_path, PROJECT)
    root = tmp_path / "ctx"
    assert tree.root == root
    assert tree.files == {
        "Dockerfile",
        "run.sh",
        "src/app.txt",
        "src/link",
        "svc/Dockerfile.template",
        "svc/package.json",
    }
    assert dict(tree.control_files) == {
        "Dockerfile": b"FROM busybox-fg\n",
        "svc/Dockerfile.template": b"FROM x\n",
        "svc/package.json": b"{}",
    }
    assert dict(tree.balena_files) == {
        ".balena/balena.yml": b"build-variables: {}\n",
        ".balena/secrets/token": b"s3cret",
        ".resin/resin.yml": b"x: 1\n",
    }
    assert tree.total_bytes == sum(
        len(b)
        for b in (
            b"FROM busybox-fg\n",
            b"#!/bin/sh\n",
            b"hello",
            b"../run.sh",
            b"FROM x\n",
            b"{}",
            b"build-variables: {}\n",
            b"s3cret",
            b"x: 1\n",
        )
    )
    on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert on_disk == [
        "Dockerfile",
        "run.sh",
        "src",
        "src/app.txt",
        "src/link",
        "svc",
        "svc/Dockerfile.template",
        "svc/package.json",
    ]
    assert stat.S_IMODE((root / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "Dockerfile").stat().st_mode) == 0o644
    assert os.readlink(root / "src/link") == "../run.sh"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"Dockerfile": (LINK, b"real")}, "Dockerfile is a symlink; commit the file itself"),
        ({"Dockerfile.template": (LINK, b"x")}, "Dockerfile.template is a symlink"),
        ({"docker-compose.yml": (LINK, b"x")}, "docker-compose.yml is a symlink"),
        ({"s": {"package.json": (LINK, b"x")}}, "s/package.json is a symlink"),
        ({".dockerignore": (LINK, b"x")}, ".dockerignore is a symlink"),
        ({".balena": {"balena.yml": (LINK, b"x")}}, ".balena/balena.yml is a symlink"),
        ({"etc": (LINK, b"/etc")}, "symlink etc -> /etc points outside the project"),
        ({"up": (LINK, b"..")}, "symlink up -> .. points outside the project"),
        ({"d": {"up": (LINK, b"../../x")}}, "symlink d/up -> ../../x points outside the project"),
        ({"a": (LINK, b"."), "b": (LINK, b"a/..")}, "symlink b resolves outside the project"),
        ({"a": (LINK, b"b"), "b": (LINK, b"a")}, "symlink a is part of a loop"),
        ({"..": (FILE, b"x")}, "tree entry '..' has a forbidden name"),
        ({"d": {"a/b": (FILE, b"x")}}, "tree entry 'd/a/b' has a forbidden name"),
        ({".GIT": {"config": (FILE, b"x")}}, "tree entry '.GIT' has a forbidden name"),
    ],
)
def test_export_refuses(tmp_path: Path, entries: dict, message: str) -> None:
    with pytest.raises(ExportError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        export(tmp_path, entries)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (ExportLimits(total_bytes=9), "the project is larger than 9 bytes; make it smaller"),
        (ExportLimits(file_count=2), "the project has more than 2 files; remove some"),
    ],
)
def test_export_limits(tmp_path: Path, limits: ExportLimits, message: str) -> None:
    entries = {"a": (FILE, b"12345"), "b": (FILE, b"12345"), "c": (FILE, b"")}
    with pytest.raises(ExportError, match=f"^{message}$"):
        export(tmp_path, entries, limits)


def test_export_within_limits(tmp_path: Path) -> None:
    entries = {"a": (FILE, b"12345"), "b": (FILE, b"12345")}
    assert export(tmp_path, entries, ExportLimits(total_bytes=10, file_count=2)).total_bytes == 10


def test_export_refuses_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "old").write_text("x")
    with pytest.raises(ExportError, match="is not empty"):
        export(tmp_path, {"a": (FILE, b"x")})


def test_defaults() -> None:
    assert ExportLimits() == ExportLimits(total_bytes=1024**3, file_count=100_000)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Dockerfile", True),
        ("Dockerfile.raspberrypi3", True),
        ("api/Dockerfile.template", True),
        ("docker-compose.yaml", True),
        ("a/package.json", True),
        (".dockerignore", True),
        (".balena/secrets/x", True),
        (".resin/resin.yml", True),
        ("src/.balena/x", False),
        ("README.md", False),
        ("package.json.bak", False),
        ("mydockerfile", False),
    ],
)
def test_is_control_file(path: str, expected: bool) -> None:
    assert is_control_file(path) is expected


@pytest.mark.parametrize(
    ("path", "target", "expected"),
    [("a", b"b", "b"), ("d/a", b"../b", "../b"), ("d/e/a", b"../../b/c", "../../b/c"), ("a", b"./.", "./.")],
)
def test_check_symlink_accepts(path: str, target: bytes, expected: str) -> None:
    assert check_symlink(path, target) == expected


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("", []),
        ("# comment\n\n  *.log  \n!keep.log\n", ["*.log", "!keep.log"]),
        ("node_modules\r\n/tmp\n", ["node_modules", "/tmp"]),
    ],
)
def test_dockerignore_patterns(text: str, patterns: list[str]) -> None:
    assert dockerignore_patterns(text) == patterns


@pytest.mark.parametrize(
    ("dockerignore", "dockerfile", "expected"),
    [
        ("", "Dockerfile", [".dockerignore", "Dockerfile", "a.log", "src", "src/keep.log", "src/x.py"]),
        (
            "**/*.log\n!src/keep.log\n",
            "Dockerfile",
            [".dockerignore", "Dockerfile", "src", "src/keep.log", "src/x.py"],
        ),
        # The SDK always sends the Dockerfile and .dockerignore, as the docker CLI does.
        ("*\n", "Dockerfile", [".dockerignore", "Dockerfile"]),
        ("*\n!src\n", "Dockerfile", [".dockerignore", "Dockerfile", "src", "src/keep.log", "src/x.py"]),
        (
            "Dockerfile\n.dockerignore\n",
            "Dockerfile",
            [".dockerignore", "Dockerfile", "a.log", "src", "src/keep.log", "src/x.py"],
        ),
        ("*.log\nsrc/x.py\n", "src/x.py", [".dockerignore", "Dockerfile", "src", "src/keep.log", "src/x.py"]),
    ],
)
def test_context_files(tmp_path: Path, dockerignore: str, dockerfile: str, expected: list[str]) -> None:
    for name in (".dockerignore", "Dockerfile", "a.log", "src/keep.log", "src/x.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(dockerignore if name == ".dockerignore" else "x")
    assert context_files(tmp_path, dockerignore, dockerfile) == expected
