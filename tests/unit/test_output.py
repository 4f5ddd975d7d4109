"""What the pusher sees: status lines, service prefixes, sanitising, the summary table (DESIGN.md §2.3)."""

from __future__ import annotations

import pytest
from fleetgate.hooks.output import (
    SummaryRow,
    duration,
    human_size,
    sanitise,
    service_line,
    status,
    summary_table,
)


@pytest.mark.parametrize(
    ("kind", "plain", "expected"),
    [
        ("Info", True, "[Info]     hello"),
        ("Success", True, "[Success]  hello"),
        ("Warn", True, "[Warn]     hello"),
        ("Error", True, "[Error]    hello"),
        ("Info", False, "\x1b[36m[Info]\x1b[0m     hello"),
        ("Error", False, "\x1b[31m[Error]\x1b[0m    hello"),
    ],
)
def test_status_lines(kind: str, plain: bool, expected: str) -> None:
    assert status(kind, "hello", plain) == expected


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Step 1/4 : FROM busybox", "Step 1/4 : FROM busybox"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("a\x1b[2Jb", "ab"),
        ("title\x1b]0;pwned\x07!", "title!"),
        ("bell\x07 and\rreturn", "bell andreturn"),
        ("tab\tstays", "tab\tstays"),
        ("nul\x00byte", "nulbyte"),
        ("\x1bc reset", " reset"),
    ],
)
def test_build_output_is_sanitised(raw: str, clean: str) -> None:
    assert sanitise(raw) == clean


def test_service_prefix() -> None:
    assert service_line("main", "#5 DONE 0.2s") == "[main]     #5 DONE 0.2s"
    assert service_line("frontend-long", "x\x1b[1m") == "[frontend-long] x"


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.00 KB"), (1_234_567, "1.23 MB"), (5 * 10**9, "5.00 GB")],
)
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


@pytest.mark.parametrize(("seconds", "shown"), [(0.4, "0s"), (12.6, "13s"), (60, "1m 00s"), (125, "2m 05s")])
def test_duration(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_summary_table() -> None:
    rows = [
        SummaryRow("main", "r/a/b/main@sha256:1", 12_345_678, 3.2),
        SummaryRow("db", "r/a/b/db@sha256:2", 500, 61),
    ]
    assert summary_table(rows) == [
        "┌───────────────────────────────────────────────────────┐",
        "│ Service │ Image               │ Size     │ Build time │",
        "├───────────────────────────────────────────────────────┤",
        "│ main    │ r/a/b/main@sha256:1 │ 12.35 MB │ 3s         │",
        "│ db      │ r/a/b/db@sha256:2   │ 500 B    │ 1m 01s     │",
        "└───────────────────────────────────────────────────────┘",
    ]
