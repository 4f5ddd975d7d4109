"""Update locks: the files an app holds to keep its services running, and the agent's own hold on them.

A service's lock folder on the host is mounted at `/tmp/balena` and `/tmp/resin`; while
`updates.lock` (or the legacy `resin-updates.lock`) is in any of them, nothing of the app is stopped.
Reading the folders and then stopping a container leaves a window in which the app takes its lock and
is stopped anyway. So, as balena's supervisor does, the agent creates the lock files itself
(`O_EXCL`, what the `lockfile` tools apps use do too) in every service's folder before it stops
anything, and removes them after: an app that asks meanwhile waits, and one that got there first
makes the agent wait. The agent's files say so in their content, so one left behind by a SIGKILL
neither counts as the app's lock nor blocks the agent after its restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILES = ("updates.lock", "resin-updates.lock")
OWN = b"fleetgate-agent\n"


def _is_own(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(OWN) + 1) == OWN
    except OSError:
        return False


def _folders(lock_root: Path) -> list[Path]:
    return sorted(d for d in lock_root.iterdir() if d.is_dir()) if lock_root.is_dir() else []


def held_by_app(lock_root: Path) -> tuple[str, ...]:
    """The services whose lock folder holds an update lock of the app's (not one of the agent's)."""
    return tuple(
        folder.name
        for folder in _folders(lock_root)
        if any((folder / name).exists() and not _is_own(folder / name) for name in LOCK_FILES)
    )


def _take(path: Path) -> bool:
    """Create the lock file for the agent; False when the app holds it. A stale one of ours is taken over."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return _is_own(path)
    with os.fdopen(fd, "wb") as f:
        f.write(OWN)
    return True


@contextmanager
def taken(lock_root: Path) -> Iterator[bool]:
    """Hold every service's update locks for the block: True when held, False when the app holds one."""
    made: list[Path] = []
    free = True
    try:
        for folder in _folders(lock_root):
            for name in LOCK_FILES:
                if not _take(folder / name):
                    free = False
                    break
                made.append(folder / name)
            if not free:
                break
        yield free
    finally:
        for path in made:
            path.unlink(missing_ok=True)
