"""Update strategies, hand-over and update locks, observed in the device daemon's own `docker events`."""

from __future__ import annotations

import time

import pytest

from .conftest import Fleet, wait_running
from .devices import Device, until


def sequence(device: Device, since: float, old: str, new: str) -> list[str]:
    """The update as Docker saw it: pull, kill old (destroy), create/start new, delete (image)."""
    names = {f"main_{old[:12]}": "old", f"main_{new[:12]}": "new"}
    out = []
    for event in device.events(since):
        action, kind = event.get("Action", ""), event.get("Type")
        name = (event.get("Actor", {}).get("Attributes") or {}).get("name", "")
        if kind == "image" and action in ("pull", "delete"):
            out.append(action)
        elif kind == "container" and name in names and action in ("create", "start", "destroy"):
            out.append(f"{action} {names[name]}")
    return out


def started(device: Device, release: str, event: str = "start") -> float:
    """When the container of `release` had `event`, in epoch seconds (from Docker's events)."""
    for item in device.events(0, "type=container", f"event={event}"):
        if item["Actor"]["Attributes"].get("name") == f"main_{release[:12]}":
            return item["timeNano"] / 1e9
    raise AssertionError(f"no {event} of main_{release[:12]}")


@pytest.fixture
def device(fleet: Fleet, devices) -> tuple[Device, str]:
    """One device running the fleet's first release; yields it and that release."""
    first = fleet.push()
    one = devices(3)
    one.start(fleet.api, fleet.provisioning_key)
    wait_running([one], first)
    return one, first


EXPECTED = {
    "download-then-kill": ["pull", "destroy old", "create new", "start new", "delete"],
    "kill-then-download": ["destroy old", "pull", "create new", "start new", "delete"],
    "delete-then-download": ["destroy old", "delete", "pull", "create new", "start new"],
}


def test_each_update_strategy_in_its_order(fleet: Fleet, device: tuple[Device, str]) -> None:
    one, old = device
    for strategy, expected in EXPECTED.items():
        since = time.time()
        new = fleet.push(strategy)
        wait_running([one], new)
        until(lambda: len(one.images()) == 1, 10, "the old image to be removed")
        assert sequence(one, since, old, new) == expected, strategy
        old = new


def test_hand_over_ends_on_the_kill_me_file(fleet: Fleet, devices) -> None:
    fleet.gw.cli("env", "set", fleet.slug, "KILL_ME_AFTER=1")  # the app writes /tmp/resin/resin-kill-me
    first = fleet.push("hand-over", 60_000)
    one = devices(4)
    one.start(fleet.api, fleet.provisioning_key)
    wait_running([one], first)
    since = time.time()
    second = fleet.push("hand-over", 60_000)
    wait_running([one], second, timeout=30)
    # The old image goes after the old container: the device runs the new release a moment before.
    until(lambda: len(one.images()) == 1, 10, "the old image to be removed")
    assert sequence(one, since, first, second) == ["pull", "create new", "start new", "destroy old", "delete"]
    overlap = started(one, first, "destroy") - started(one, second)
    assert 1 <= overlap < 10, overlap  # the app wrote the file after 1 s; the timeout was 60 s
    until(lambda: not (one.lock_dir() / "resin-kill-me").exists(), 10, "the hand-over file to be cleared")


def test_hand_over_ends_on_the_timeout(fleet: Fleet, devices) -> None:
    first = fleet.push("hand-over", 2_000)
    one = devices(5)
    one.start(fleet.api, fleet.provisioning_key)
    wait_running([one], first)
    second = fleet.push("hand-over", 2_000)
    wait_running([one], second, timeout=30)
    overlap = started(one, first, "destroy") - started(one, second)
    assert 2 <= overlap < 6, overlap


def test_an_update_lock_holds_the_swap_until_the_lock_file_goes(fleet: Fleet, device: tuple) -> None:
    one, first = device
    lock = one.lock_dir() / "updates.lock"
    lock.touch()  # as the service would, through /tmp/balena/updates.lock
    second = fleet.push()
    until(lambda: fleet.devices()[one.uuid]["status"] == "update locked", 20, "the device to say so")
    assert len(one.images()) == 2  # the new release was downloaded ...
    assert one.running() == {f"main_{first[:12]}"}  # ... but nothing was stopped or replaced
    time.sleep(1.5)
    assert one.running() == {f"main_{first[:12]}"}
    lock.unlink()
    wait_running([one], second, timeout=10)
    until(lambda: fleet.devices()[one.uuid]["status"] == "idle", 10, "the device to be idle again")
    # The agent held the locks itself while it stopped the old container, and gave them back.
    assert sorted(p.name for p in one.lock_dir().parent.rglob("*.lock")) == []


def test_the_lock_override_replaces_despite_the_lock(fleet: Fleet, device: tuple[Device, str]) -> None:
    one, first = device
    (one.lock_dir() / "updates.lock").touch()
    fleet.gw.cli("device", "lock-override", one.uuid, "on")
    second = fleet.push()
    wait_running([one], second, timeout=30)
