"""State reporter: sends the agent's reports from a thread of its own, latest first.

A report must never hold up an update (the API may be slow or down), and only the newest state is
worth sending: a report waiting while a newer one arrives is replaced, not queued. Reports that only
move the download progress are sent at most every PROGRESS_EVERY seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("fleetgate.agent")
PROGRESS_EVERY = 0.5  # seconds between progress-only reports
RETRY_AFTER = 2.0  # seconds before a failed report is sent again


def _without_progress(body: Mapping[str, Any]) -> dict[str, Any]:
    return {**body, "progress": None, "services": None}


class StateReporter:
    """Hands reports to `send` in a daemon thread; `report` never blocks on the network."""

    def __init__(self, send: Callable[[Mapping[str, Any]], None]) -> None:
        self._send = send
        self._wanted: Mapping[str, Any] | None = None
        self._sent: Mapping[str, Any] | None = None
        self._sent_at = 0.0
        self._changed = threading.Condition()
        threading.Thread(target=self._run, name="state-reporter", daemon=True).start()

    def report(self, body: Mapping[str, Any]) -> None:
        """Make `body` the report to send next (dropping an older one not sent yet)."""
        with self._changed:
            if body == self._wanted:
                return
            self._wanted = body
            self._changed.notify()

    def _due(self) -> float:
        """Seconds until the wanted report should go (0: now); inf when there is nothing to send."""
        wanted, sent = self._wanted, self._sent
        if wanted is None or wanted == sent:
            return float("inf")
        progress_only = sent is not None and _without_progress(wanted) == _without_progress(sent)
        if progress_only and wanted.get("status") == "downloading":
            return max(0.0, self._sent_at + PROGRESS_EVERY - time.monotonic())
        return 0.0

    def _run(self) -> None:
        while True:
            with self._changed:
                while (due := self._due()) > 0:
                    self._changed.wait(None if due == float("inf") else due)
                body = self._wanted
            try:
                assert body is not None
                self._send(body)
                self._sent, self._sent_at = body, time.monotonic()
            except Exception as error:  # noqa: BLE001 - any failure: keep the report, try again later
                log.warning("state report not sent: %s", error)
                time.sleep(RETRY_AFTER)
