"""Live build logs: what a running build prints, in a file others can follow while it is written.

The pusher's terminal gets the build through the push's side-band; anyone else who may read the release
(`logs RELEASE -f` over SSH, from another terminal or after `git push -o detach`) follows this file. It
lives on the repositories' disk (every gateway node reads it, DESIGN.md §8), holds plain text (no colour),
is capped like the push output, and goes when the build ends: the release keeps the full logs.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LIVE_CAP = 8 * 1024 * 1024  # bytes, as the push output's cap
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_HASH = re.compile(r"[0-9a-f]{32}")


def live_path(home: Path, release_hash: str) -> Path:
    """Where the live log of the release with this hash is written while it builds."""
    if not _HASH.fullmatch(release_hash):
        raise ValueError(f"not a release hash: {release_hash[:40]!r}")
    return home / "logs" / "builds" / f"{release_hash}.log"


class LiveLogWriter:
    """Appends lines as they are printed; thread-safe (services build in parallel)."""

    def __init__(self, path: Path, cap: int = LIVE_CAP) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115  (closed in close())
        self._lock = threading.Lock()
        self._left = cap

    def write(self, text: str) -> None:
        """Add one or more lines, without colour, up to the cap."""
        plain = _SGR.sub("", text)
        if not plain.endswith("\n"):
            plain += "\n"
        with self._lock:
            if self._file.closed or self._left <= 0:
                return
            self._left -= len(plain)
            self._file.write(plain)
            self._file.flush()  # a follower in another process reads it at once

    def close(self) -> None:
        """End the live log: the file goes (an open follower still reads what is in it)."""
        with self._lock:
            self._file.close()
        self.path.unlink(missing_ok=True)


class LiveLogReader:
    """Reads whole lines as they arrive; a line still being written waits for its end."""

    def __init__(self, file) -> None:
        self._file = file
        self._partial = ""

    def lines(self) -> Iterator[str]:
        """The complete lines written since the last call."""
        chunk = self._file.read()
        if not chunk:
            return
        text = self._partial + chunk
        *complete, self._partial = text.split("\n")
        yield from complete


@contextmanager
def open_live(path: Path) -> Iterator[LiveLogReader]:
    """Follow the live log at `path` from its beginning."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with open(fd, encoding="utf-8", errors="replace") as file:
        yield LiveLogReader(file)
