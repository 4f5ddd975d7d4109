"""The rollout line a pusher sees with `git push -o wait=devices`."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from fleetgate.hooks.device_progress import DeviceProgress, rollout, wait_for_devices
from fleetgate.hooks.options import OptionRefused, build_options
from fleetgate.hooks.refrules import rule_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NEW, OLD = "a" * 40, "b" * 40
SEEN = NOW - timedelta(seconds=5)
GONE = NOW - timedelta(hours=1)


def device(n: int, status: str | None, release: str | None, seen: datetime | None = SEEN) -> DeviceProgress:
    return DeviceProgress(f"uuid{n}", status, release, seen)


@pytest.mark.parametrize(
    ("devices", "line", "done"),
    [
        ([], "no device is online to run aaaaaaa", True),
        ([device(1, "idle", OLD, GONE)], "no device is online to run aaaaaaa (1 offline)", True),
        ([device(1, "idle", NEW)], "1/1 devices running aaaaaaa", True),
        (
            [device(1, "idle", NEW), device(2, "idle", NEW), device(3, "update locked", OLD)],
            "2/3 devices running aaaaaaa, 1 update locked",
            False,
        ),
        (
            [device(1, "downloading", OLD), device(2, "installing", OLD), device(3, "idle", NEW, GONE)],
            "0/2 devices running aaaaaaa, 1 downloading, 1 installing, 1 offline",
            False,
        ),
        ([device(1, None, None)], "0/1 devices running aaaaaaa, 1 unknown", False),
        (
            [device(1, "idle", NEW), device(2, "idle", OLD, None)],
            "1/1 devices running aaaaaaa, 1 offline",
            True,
        ),
    ],
)
def test_rollout_line(devices, line, done):
    state = rollout(NEW, devices, NOW)
    assert (state.line, state.done) == (line, done)


def test_wait_prints_each_change_once_and_ends_when_all_run_it():
    reads = iter(
        [
            [device(1, "downloading", OLD), device(2, "idle", NEW)],
            [device(1, "downloading", OLD), device(2, "idle", NEW)],
            [device(1, "idle", NEW), device(2, "idle", NEW)],
        ]
    )
    said: list[str] = []
    ok = wait_for_devices(NEW, lambda: next(reads), said.append, 30, threading.Event(), lambda: NOW)
    assert ok
    assert said == ["1/2 devices running aaaaaaa, 1 downloading", "2/2 devices running aaaaaaa"]


def test_wait_gives_up_at_the_timeout():
    said: list[str] = []
    ok = wait_for_devices(
        NEW, lambda: [device(1, "update locked", OLD)], said.append, 0, threading.Event(), lambda: NOW
    )
    assert not ok
    assert said == [
        "0/1 devices running aaaaaaa, 1 update locked",
        "stopped waiting after 0s; see: fleetgate device list",
    ]


@pytest.mark.parametrize(
    ("options", "wait"), [((), False), (("wait=devices",), True), (("nocache", "wait=devices"), True)]
)
def test_wait_devices_push_option(options, wait):
    assert build_options(rule_for(b"refs/heads/master", False), options).wait_devices is wait


@pytest.mark.parametrize("option", ["wait", "wait=", "wait=servers"])
def test_other_wait_values_are_refused_with_the_known_options(option):
    with pytest.raises(OptionRefused, match="known options: .*wait=devices"):
        build_options(rule_for(b"refs/heads/master", False), (option,))
