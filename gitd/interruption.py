"""A push stopped by a shutdown, decided once against the moment its refs move.

The shutdown interrupts a push that outlives the grace; the push moves its refs once its pipeline
accepts. Whichever comes first wins, under one lock: an interrupted push never moves a ref (so its
release may be recorded as interrupted), and a push whose refs are moving is let finish.
"""

from __future__ import annotations

import threading

SHUTDOWN_REASON = "interrupted: the gateway is shutting down; push again in a minute"


class Interruption:
    """Set once by the shutdown (`interrupt`) or by the push about to move its refs (`commit`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interrupted = False
        self._committed = False

    def interrupt(self) -> bool:
        """Stop the push; False when its refs are already moving (it is let finish)."""
        with self._lock:
            if not self._committed:
                self._interrupted = True
            return self._interrupted

    def commit(self) -> bool:
        """Claim the right to move refs; False when the push was interrupted first."""
        with self._lock:
            if not self._interrupted:
                self._committed = True
            return self._committed

    @property
    def interrupted(self) -> bool:
        """Whether the shutdown stopped this push."""
        return self._interrupted
