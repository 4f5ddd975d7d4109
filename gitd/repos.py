"""The fleets' bare repositories on disk, located by fleet id (never by a client's string)."""

from __future__ import annotations

import shutil
from pathlib import Path

from dulwich.repo import Repo


def repository_path(root: Path, fleet_id: int) -> Path:
    """Where fleet `fleet_id`'s bare repository lives."""
    return root / f"{int(fleet_id)}.git"


def create_repository(root: Path, fleet_id: int) -> Path:
    """Create the fleet's bare repository: HEAD and `main` are symbolic refs to `master`."""
    path = repository_path(root, fleet_id)
    root.mkdir(parents=True, exist_ok=True)
    repo = Repo.init_bare(str(path), mkdir=True)
    try:
        repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/master")
        repo.refs.set_symbolic_ref(b"refs/heads/main", b"refs/heads/master")
    finally:
        repo.close()
    return path


def remove_repository(root: Path, fleet_id: int) -> None:
    """Delete the fleet's repository and everything in it."""
    shutil.rmtree(repository_path(root, fleet_id), ignore_errors=True)
