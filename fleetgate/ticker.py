"""A progress line during a long step: said whenever nothing else was said for an interval.

A push shows balena-style lines as work happens; some steps (receiving a big pack, a silent build
step, uploading layers, waiting for a health check) go quiet for minutes, and a quiet terminal reads
as a hang. A `Ticker` says its step's current state after `interval` seconds without any line. The
interval is a parameter so that tests see the lines without waiting for real time to pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)

MIN_WAIT = 0.01  # a tiny interval (tests) must not turn the thread into a busy loop


class Ticker:
    """Says `text()` through `say` after each `interval` seconds without a line, until the step ends."""

    def __init__(self, say: Callable[[str], None], text: Callable[[], str], interval: float) -> None:
        self._say = say
        self._text = text
        self._interval = interval
        self._last = time.monotonic()
        self._done = threading.Event()
        self.ticked = False  # whether a progress line was said: the step was a long one
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def touch(self) -> None:
        """Something else was said: the next progress line waits a whole interval from now."""
        self._last = time.monotonic()

    def __enter__(self) -> Ticker:
        self._last = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(max(MIN_WAIT, self._last + self._interval - time.monotonic())):
            if time.monotonic() - self._last < self._interval:
                continue  # touched while waiting
            try:
                self._say(self._text())
            except Exception:  # the pusher went away, most likely: the step itself will notice
                log.debug("progress line not said; the ticker stops", exc_info=True)
                return
            self.ticked = True
            self._last = time.monotonic()
