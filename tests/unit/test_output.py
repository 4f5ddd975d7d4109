"""What the pusher sees: status lines, service prefixes, sanitising, the summary table (DESIGN.md §2.3)."""

from __future__ import annotations

import pytest
from fleetgate.hooks.output import (
    WIDTH,
    SummaryRow,
    duration,
    fit,
    human_size,
    sanitise,
    service_line,
    short_digest,
    status,
    status_lines,
    summary_table,
)

DIGEST = "sha256:8c643ac492b533bd0559982dda3e131525e58f0482acb1dc8be7c8540bdc74b1"


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


def test_summary_table_has_joined_borders_and_short_digests() -> None:
    rows = [
        SummaryRow("main", f"127.0.0.1:5000/alice/plain/main@{DIGEST}", 12_345_678, 3.2),
        SummaryRow("db", DIGEST, 500, 61),  # no registry: the image id
    ]
    assert summary_table(rows) == [
        "┌─────────┬─────────────────────┬──────────┬────────────┐",
        "│ Service │ Image               │ Size     │ Build time │",
        "├─────────┼─────────────────────┼──────────┼────────────┤",
        "│ main    │ sha256:8c643ac492b5 │ 12.35 MB │ 3s         │",
        "│ db      │ sha256:8c643ac492b5 │ 500 B    │ 1m 01s     │",
        "└─────────┴─────────────────────┴──────────┴────────────┘",
    ]


def test_a_long_service_name_gives_way_so_the_table_fits_the_terminal() -> None:
    table = summary_table([SummaryRow("s" * 120, DIGEST, 500, 1)])
    assert {len(line) for line in table} == {81}
    assert table[3] == "│ " + "s" * 33 + "… │ sha256:8c643ac492b5 │ 500 B │ 1s         │"


@pytest.mark.parametrize(
    ("reference", "short"),
    [
        (f"r:5000/a/b/main@{DIGEST}", "sha256:8c643ac492b5"),
        (DIGEST, "sha256:8c643ac492b5"),
        ("not-a-digest-at-all-and-long", "not-a-digest-at-al…"),
    ],
)
def test_short_digest(reference: str, short: str) -> None:
    assert short_digest(reference) == short


def test_status_lines_wrap_within_the_width_with_the_tag_once() -> None:
    text = "Building " + ", ".join(f"service-{n}" for n in range(20)) + " on builder 'default'"
    lines = status_lines("Info", text, plain=True)
    assert lines[0].startswith("[Info]     Building service-0, ")
    assert all(line.startswith(" " * 13) for line in lines[1:])
    assert all(len("remote: " + line) <= WIDTH for line in lines)
    assert " ".join(" ".join(line.split()) for line in lines) == "[Info] " + text


def test_a_short_status_line_is_one_line_and_colour_does_not_count() -> None:
    assert status_lines("Error", "alice/br#2: service main failed", plain=False) == [
        "\x1b[31m[Error]\x1b[0m    alice/br#2: service main failed"
    ]


def test_fit() -> None:
    assert fit("short", 10) == "short"
    assert fit("a bit too long", 10) == "a bit too…"
