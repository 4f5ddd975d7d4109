"""Progress lines during long steps: the pack's, the ticker that says them, the devices' (issue 19)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from fleetgate.gitd.pack_progress import PackProgress, pack_line
from fleetgate.hooks.device_progress import DeviceProgress, wait_for_devices

from fleetgate.ticker import Ticker


def test_pack_lines() -> None:
    assert pack_line(0, 3.1) == "Waiting for the pack (3s)"
    assert pack_line(12_300_000, 75) == "Pack: 12.30 MB received so far (1m 15s)"


def test_pack_progress_counts_what_was_read() -> None:
    chunks = iter([b"x" * 1000, b"y" * 500, b""])
    clock = iter([0.0, 2.0, 4.0, 6.0])
    progress = PackProgress(lambda size: next(chunks), lambda: next(clock))
    assert progress.line() == "Waiting for the pack (2s)"
    progress.read_some(1000)
    progress.read_some(1000)
    progress.read_some(1000)
    assert progress.received == 1500
    assert progress.line() == "Pack: 1.50 KB received so far (4s)"
    assert progress.done_line() == "Pack received and checked: 1.50 KB in 6s"


def test_the_ticker_speaks_only_after_silence_and_stops_with_the_step() -> None:
    said: list[str] = []
    ticks = Ticker(said.append, lambda: f"tick {len(said)}", interval=0.02)
    with ticks:
        deadline = time.monotonic() + 5
        while len(said) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
    count = len(said)
    time.sleep(0.05)
    assert said[:3] == ["tick 0", "tick 1", "tick 2"] and len(said) == count and ticks.ticked


def test_a_ticker_that_is_touched_stays_quiet() -> None:
    said: list[str] = []
    ticks = Ticker(said.append, lambda: "tick", interval=0.5)
    with ticks:
        for _ in range(10):
            ticks.touch()
            time.sleep(0.01)
    assert said == [] and not ticks.ticked


def test_a_ticker_whose_line_cannot_be_said_stops() -> None:
    def gone(_line: str) -> None:
        raise ConnectionError("the pusher went away")

    with Ticker(gone, lambda: "tick", interval=0.01) as ticks:
        time.sleep(0.05)
    assert not ticks.ticked


NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_waiting_for_devices_repeats_an_unchanged_line_so_the_push_never_looks_hung() -> None:
    slow = [DeviceProgress("u1", "downloading", "b" * 32, NOW)]
    reads = iter([slow] * 6 + [[DeviceProgress("u1", "idle", "a" * 32, NOW)]])

    def read():
        time.sleep(0.01)
        return next(reads)

    said: list[str] = []
    assert wait_for_devices("a" * 32, read, said.append, 30, threading.Event(), lambda: NOW, every=0.01)
    assert said[0] == "0/1 devices running aaaaaaa, 1 downloading"
    assert len(said) > 2 and said[1].startswith("0/1 devices running aaaaaaa, 1 downloading (")
    assert said[-1] == "1/1 devices running aaaaaaa"
