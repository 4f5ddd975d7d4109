"""The agent's reports go from their own thread: newest only, progress throttled, failures retried."""

from __future__ import annotations

import threading
import time

from fleetgate.deploy.agent import state_reporter
from fleetgate.deploy.agent.state_reporter import StateReporter


def _until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_slow_send_never_blocks_and_only_the_newest_report_follows() -> None:
    sent: list[dict] = []
    gate = threading.Event()

    def send(body) -> None:
        gate.wait(5)
        sent.append(dict(body))

    reporter = StateReporter(send)
    started = time.monotonic()
    for n in range(5):
        reporter.report({"status": "installing", "n": n, "progress": None})
    assert time.monotonic() - started < 0.5
    gate.set()
    _until(lambda: sent and sent[-1]["n"] == 4)
    assert len(sent) <= 2 and sent[-1]["n"] == 4


def test_progress_only_reports_are_throttled(monkeypatch) -> None:
    monkeypatch.setattr(state_reporter, "PROGRESS_EVERY", 0.3)
    sent: list[dict] = []
    reporter = StateReporter(lambda body: sent.append(dict(body)))
    reporter.report({"status": "downloading", "progress": 0, "services": {}})
    _until(lambda: len(sent) == 1)
    for percent in range(1, 50):
        reporter.report({"status": "downloading", "progress": percent, "services": {}})
    time.sleep(0.1)
    assert len(sent) == 1  # the progress waits for its turn ...
    _until(lambda: sent[-1]["progress"] == 49)  # ... and then the newest goes
    assert len(sent) == 2


def test_a_failed_report_is_sent_again(monkeypatch) -> None:
    monkeypatch.setattr(state_reporter, "RETRY_AFTER", 0.05)
    calls: list[dict] = []

    def send(body) -> None:
        calls.append(dict(body))
        if len(calls) < 3:
            raise OSError("API down")

    StateReporter(send).report({"status": "idle"})
    _until(lambda: len(calls) == 3)
