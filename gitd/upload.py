"""git-upload-pack (fetch and clone of what was deployed), served by dulwich for one repository."""

from __future__ import annotations

from pathlib import Path

from dulwich.protocol import Protocol
from dulwich.repo import Repo
from dulwich.server import DictBackend, UploadPackHandler


def serve_upload_pack(repo_path: Path, proto: Protocol) -> None:
    """Serve one fetch from the fleet's repository; the client's path string is never used."""
    repo = Repo(str(repo_path))
    # Advertise only HEAD's symref: git 2.39's fetch crashes (a glibc malloc assertion) when the
    # capabilities also carry `symref=refs/heads/main:refs/heads/master`.
    repo.refs.get_symrefs = lambda: {b"HEAD": b"refs/heads/master"}  # type: ignore[method-assign]
    try:
        backend = DictBackend({b"/": repo})
        UploadPackHandler(backend, [b"/"], proto).handle()
    finally:
        repo.close()
