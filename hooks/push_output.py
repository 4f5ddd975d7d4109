"""The pusher's terminal during a push: status lines, build lines, the summary; capped, and safe to lose."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fleetgate.build.release import BuiltRelease
from fleetgate.gitd.bridge import ChannelClosed
from fleetgate.gitd.pipeline import Progress

from fleetgate import releases

from .outcome import Said
from .output import SummaryRow, duration, service_line, status, status_lines, summary_table

OUTPUT_CAP = 8 * 1024 * 1024  # bytes of build output a push shows before it only counts


class PushOutput:
    """Writes to one pusher; a vanished client cancels the build unless the push was detached."""

    def __init__(
        self,
        progress: Progress,
        plain: bool,
        cancelled: threading.Event,
        detach: bool,
        cap: int = OUTPUT_CAP,
        tee: Callable[[str], None] | None = None,
    ) -> None:
        self._progress = progress
        self._tee = tee  # the live build log others follow; it gets every line, the pusher gone or not
        self._plain = plain
        self._cancelled = cancelled
        self._detach = detach
        self._cap = cap
        self._sent = 0
        self._lock = threading.Lock()
        self._gone = False

    def _send(self, text: str, always: bool = False) -> None:
        if self._tee is not None:
            self._tee(text)
        with self._lock:
            if self._gone:
                return
            self._sent += len(text)
            if self._sent > self._cap and not always:
                if self._sent - len(text) <= self._cap:
                    text = status(
                        "Warn",
                        "build output truncated here; the full log is kept with the release",
                        self._plain,
                    )
                else:
                    return
            try:
                self._progress.line(text)
            except ChannelClosed:
                self._gone = True
                if not self._detach:
                    self._cancelled.set()

    def _status(self, kind: str, text: str) -> None:
        for line in status_lines(kind, text, self._plain):
            self._send(line, always=True)

    def info(self, text: str) -> None:
        """An `[Info]` line (wrapped to the pusher's width, as every status line is)."""
        self._status("Info", text)

    def success(self, text: str) -> None:
        """A `[Success]` line."""
        self._status("Success", text)

    def warn(self, text: str) -> None:
        """A `[Warn]` line."""
        self._status("Warn", text)

    def error(self, text: str) -> None:
        """The one `[Error]` line of a push that failed."""
        self._status("Error", text)

    def say(self, said: Said) -> None:
        """A verdict: its line, tagged by its kind."""
        self._status(said.kind, said.line)

    def build_line(self, service: str, line: str) -> None:
        """One line of a service's build output, prefixed by the service."""
        self._send(service_line(service, line))

    def summary(self, release: releases.Release, built: BuiltRelease, seconds: float) -> None:
        """The end of a successful build: where it was built, the release, the table, the total time."""
        self.info(f"Built on {built.placement.builder.name} ({built.placement.summary})")
        self.success(f"Release: {release.hash} (id: {release.number})")
        rows = [SummaryRow(i.service, i.reference, i.size, i.seconds) for i in built.images]
        for line in summary_table(rows):
            self._send(status("Info", line, self._plain), always=True)
        self.info(f"Full image references: fleetgate release show {release.name}")
        self.info(f"Build finished in {duration(seconds)}")
