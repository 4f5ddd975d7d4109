"""The web pages' pure helpers as tables of exact values: relative times, durations, sizes, progress bars,
who is online, devices by state, release search, CSRF tokens and server-sent events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetgate.web import csrf, display
from fleetgate.web.log_stream import sse_event

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=-44), "just now"),
        (timedelta(seconds=44), "just now"),
        (timedelta(seconds=-50), "50 seconds ago"),
        (timedelta(minutes=-1), "1 minute ago"),
        (timedelta(minutes=-3, seconds=-20), "3 minutes ago"),
        (timedelta(minutes=-89), "1 hour ago"),
        (timedelta(hours=-2), "2 hours ago"),
        (timedelta(hours=2), "in 2 hours"),
        (timedelta(days=-1), "1 day ago"),
        (timedelta(days=-8), "1 week ago"),
        (timedelta(days=-45), "2 months ago"),
        (timedelta(days=-800), "2 years ago"),
    ],
)
def test_relative(delta: timedelta, shown: str) -> None:
    assert display.relative(NOW + delta, NOW) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, ""),
        (0, "0 s"),
        (42.4, "42 s"),
        (60, "1 min"),
        (185, "3 min 5 s"),
        (3600, "1 h"),
        (3720, "1 h 2 min"),
    ],
)
def test_duration(seconds: float | None, shown: str) -> None:
    assert display.duration(seconds) == shown


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (None, ""),
        (0, "0 B"),
        (999, "999 B"),
        (1500, "1.5 KB"),
        (12_345_678, "12.3 MB"),
        (3 * 10**12, "3000.0 GB"),
    ],
)
def test_size(count: int | None, shown: str) -> None:
    assert display.size(count) == shown


@pytest.mark.parametrize(
    ("percent", "status", "bar"),
    [
        (None, "downloading", None),
        (40, "idle", None),
        (40, None, None),
        (0, "downloading", display.Progress(0, "downloading 0%")),
        (57.8, "downloading", display.Progress(57, "downloading 57%")),
        (130, "installing", display.Progress(100, "installing 100%")),
        (-5, "downloading", display.Progress(0, "downloading 0%")),
    ],
)
def test_progress(percent, status, bar) -> None:
    assert display.progress(percent, status) == bar


def test_online_is_a_request_within_two_minutes() -> None:
    assert display.online(NOW - timedelta(seconds=119), NOW)
    assert display.online(NOW - timedelta(minutes=2), NOW)
    assert not display.online(NOW - timedelta(minutes=2, seconds=1), NOW)
    assert not display.online(None, NOW)


def test_by_state_counts_most_first_and_calls_no_report_new() -> None:
    statuses = ["idle", "downloading", None, "idle", "error", "downloading", "idle"]
    assert display.by_state(statuses) == [("idle", 3), ("downloading", 2), ("error", 1), ("new", 1)]
    assert display.by_state([]) == []


@pytest.mark.parametrize(
    ("query", "found"),
    [("", True), ("  ", True), ("c0ffee", True), ("C0FFEE", True), ("1a2b", True), ("alice/demo#3", True),
     ("ffee", False), ("#3", False), ("zz", False)],
)  # fmt: skip
def test_matches_a_prefix_of_commit_hash_or_name(query: str, found: bool) -> None:
    assert display.matches(query, ("c0ffee00", "1a2b3c4d", "alice/demo#3")) is found


def test_csrf_token_is_the_sessions_own() -> None:
    token = csrf.token_for("fgs_one")
    assert len(token) == 64 and token == csrf.token_for("fgs_one") != csrf.token_for("fgs_two")
    assert csrf.valid_form(token, {"csrf": token})
    assert not csrf.valid_form(token, {})
    assert not csrf.valid_form(token, {"csrf": ""})
    assert not csrf.valid_form(token, {"csrf": csrf.token_for("fgs_two")})
    assert not csrf.valid_form(token, {"csrf": "é" * 64})


@pytest.mark.parametrize(
    ("data", "event"),
    [
        ("[main] Step 1/2", "event: line\ndata: [main] Step 1/2\n\n"),
        ("a\rb", "event: line\ndata: ab\n\n"),  # a CR would end the SSE line early
        ("tab\there\x1b[31m", "event: line\ndata: tab\there[31m\n\n"),
        ("<script>", "event: line\ndata: <script>\n\n"),  # text: the page puts it in as textContent
    ],
)
def test_sse_event(data: str, event: str) -> None:
    assert sse_event("line", data) == event
