"""The pure core of the service side (issue 19): log lines, push outcomes, health verdicts, interruption."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from fleetgate.gitd.audit import PushEnd, push_outcome
from fleetgate.gitd.interruption import Interruption
from fleetgate.gitd.pipeline import RefResult

from fleetgate.health import DOWN, OFF, OK, Check, disk, verdict
from fleetgate.log_lines import JsonLines, TextLines, escape, fields
from fleetgate.service import waiting_for_restart

MASTER = b"refs/heads/master"


def record(message: str, extra: dict | None = None, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            info = sys.exc_info()
    made = logging.LogRecord("fleetgate", logging.WARNING, __file__, 1, message, None, info)
    made.__dict__.update(extra or {})
    made.created = 0.0
    return made


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("plain", "plain"),
        ("two\nlines", "two\\nlines"),
        ("cr\rtab\tesc\x1b[0m", "cr\\rtab\\tesc\\x1b[0m"),
        ("nel\x85 ls\u2028 ps\u2029", "nel\\x85 ls\\u2028 ps\\u2029"),
        ("ünïcode stays", "ünïcode stays"),
    ],
)
def test_escape_keeps_every_event_on_one_line(text: str, line: str) -> None:
    assert escape(text) == line


def test_a_text_line_holds_its_traceback_on_the_same_line() -> None:
    line = TextLines().format(record("failed\nlogin for x from 9.9.9.9", exc=True))
    assert "\n" not in line
    assert line.endswith(
        "WARNING fleetgate: failed\\nlogin for x from 9.9.9.9\\nTraceback" + line.split("Traceback")[1]
    )
    assert "ValueError: boom\\nsecond line" in line


def test_a_json_line_has_the_event_fields_and_parses() -> None:
    line = JsonLines().format(
        record("push accepted", fields(event="push", user="alice", duration=1.5), exc=True)
    )
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed.pop("exception").startswith("Traceback")
    assert parsed == {
        "time": "1970-01-01T00:00:00.000+00:00",
        "level": "warning",
        "logger": "fleetgate",
        "message": "push accepted",
        "event": "push",
        "user": "alice",
        "duration": 1.5,
    }


OK_RESULT, NG_RESULT = RefResult(MASTER, True), RefResult(MASTER, False, "build failed: x")


@pytest.mark.parametrize(
    ("results", "fault", "release", "expected"),
    [
        ((OK_RESULT,), False, "success", ("accepted", "")),
        ((OK_RESULT,), False, None, ("accepted", "")),  # a pipeline that builds nothing
        (None, False, "success", ("accepted", "")),  # -o detach: the client left, the release succeeded
        ((), False, None, ("unchanged", "")),
        ((NG_RESULT,), False, "failed", ("failed", "build failed: x")),
        ((NG_RESULT,), False, "interrupted", ("failed", "build failed: x")),
        ((NG_RESULT,), False, None, ("refused", "build failed: x")),  # a branch rule, a cap: nothing built
        ((NG_RESULT,), True, None, ("failed", "build failed: x")),  # fleetgate's fault
        (None, False, None, ("failed", "the client went away")),
        (None, False, "cancelled", ("failed", "the client went away")),
    ],
)
def test_push_outcome(results, fault: bool, release: str | None, expected: tuple[str, str]) -> None:
    assert push_outcome(results, fault, release) == expected


def test_a_push_line_names_who_what_which_release_and_how_long() -> None:
    end = PushEnd(
        "failed", "alice", "SHA256:k", "alice/demo", 12.34, "alice/demo#3", "ab" * 16, "failed", "why"
    )
    assert end.message() == (
        "push failed: alice/demo by alice key SHA256:k release alice/demo#3 (failed) in 12.3 s: why"
    )
    assert PushEnd("refused", "bob", "SHA256:b", "a/b", 0.04).message() == (
        "push refused: a/b by bob key SHA256:b in 0.0 s"
    )


def test_interruption_and_commit_exclude_each_other() -> None:
    first = Interruption()
    assert first.interrupt() and not first.commit() and first.interrupted
    second = Interruption()
    assert second.commit() and not second.interrupt() and not second.interrupted
    assert second.commit()  # a push moving several refs claims the right once and keeps it


def test_verdict_is_503_only_for_a_required_dependency_that_is_down() -> None:
    checks = [
        Check("database", OK, True, "sqlite"),
        Check("registry", OFF, False, "none configured"),
        Check("docker", DOWN, True, "default: refused", {"builders": {"default": "refused"}}),
    ]
    assert verdict(checks) == (
        503,
        {
            "status": "down",
            "down": ["docker"],
            "checks": {
                "database": {"status": "ok", "required": True, "detail": "sqlite"},
                "registry": {"status": "off", "required": False, "detail": "none configured"},
                "docker": {
                    "status": "down",
                    "required": True,
                    "detail": "default: refused",
                    "builders": {"default": "refused"},
                },
            },
        },
    )
    assert verdict(checks[:2])[0] == 200


GIB = 1 << 30


@pytest.mark.parametrize(
    ("free", "writable", "status", "detail"),
    [
        (5 * GIB, True, OK, "5.0 GiB free of 10.0 GiB at /h"),
        (
            GIB // 2,
            True,
            DOWN,
            "512.0 MiB free of 10.0 GiB at /h, below FLEETGATE_MIN_FREE_BYTES (1.0 GiB); free some",
        ),
        (5 * GIB, False, DOWN, "/h is not writable by the gateway"),
    ],
)
def test_disk_check(free: int, writable: bool, status: str, detail: str) -> None:
    check = disk("disk", "/h", free, 10 * GIB, GIB, writable)
    assert (check.status, check.required, check.detail) == (status, True, detail)
    assert check.facts == {"path": "/h", "free_bytes": free, "total_bytes": 10 * GIB, "min_free_bytes": GIB}


def test_sighup_names_the_changes_that_wait_for_a_restart() -> None:
    running = {
        "FLEETGATE_LOG_LEVEL": "info",
        "FLEETGATE_SSH_LISTEN": "127.0.0.1:2222",
        "FLEETGATE_REGISTRY": "",
    }
    read = {"FLEETGATE_LOG_LEVEL": "debug", "FLEETGATE_SSH_LISTEN": "0.0.0.0:2222", "FLEETGATE_REGISTRY": ""}
    assert waiting_for_restart(running, read) == ["FLEETGATE_SSH_LISTEN"]
