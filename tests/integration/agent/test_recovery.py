"""Agents that lose their API or are killed mid-update; fleets pinned and rolled back."""

from __future__ import annotations

import signal
import time

from .conftest import Fleet, wait_running
from .devices import until


def test_pinning_and_rollback_move_the_devices(fleet: Fleet, devices) -> None:
    first = fleet.push()
    one, two = devices(6), devices(7)
    one.start(fleet.api, fleet.provisioning_key)
    two.start(fleet.api, fleet.provisioning_key)
    wait_running([one, two], first)
    second = fleet.push()
    wait_running([one, two], second)

    fleet.gw.cli("device", "pin", one.uuid, first)  # one device back to the first release
    wait_running([one], first)
    assert two.runs(second)
    fleet.gw.cli("rollback", fleet.slug)  # the whole fleet back to the first release
    wait_running([two], first)
    third = fleet.push()  # a rolled-back fleet is pinned: the new release waits
    time.sleep(1)
    assert one.runs(first) and two.runs(first)
    fleet.gw.cli("fleet", "pin", fleet.slug, "--latest")
    wait_running([two], third)
    assert one.runs(first)  # still pinned on its own
    fleet.gw.cli("device", "pin", one.uuid, "--fleet")
    wait_running([one], third)


def test_an_agent_killed_mid_update_converges_after_its_restart(fleet: Fleet, devices) -> None:
    first = fleet.push("hand-over", 60_000)
    one = devices(8)
    one.start(fleet.api, fleet.provisioning_key)
    wait_running([one], first)
    # Killed in the middle of a hand-over: the new release runs beside the old one, and the agent
    # that started it is gone.
    second = fleet.push("hand-over", 60_000)
    both = {f"main_{first[:12]}", f"main_{second[:12]}"}
    until(lambda: one.running() == both, 30, "the new container to start beside the old one")
    assert one.stop(signal.SIGKILL) == -signal.SIGKILL
    (one.lock_dir() / "handover-complete").touch()  # the new service says it has taken over
    time.sleep(1)
    assert one.running() == both  # nobody acts on it while the agent is down
    one.restart()
    wait_running([one], second, timeout=30)
    # And killed right after it killed the old container of a kill-then-download update.
    third = fleet.push("kill-then-download")
    until(lambda: f"main_{second[:12]}" not in one.containers(), 30, "the old container to be killed")
    one.stop(signal.SIGKILL)
    one.restart()
    wait_running([one], third, timeout=30)
    until(lambda: len(one.images()) == 1, 10, "the old images to be removed")


def test_the_release_keeps_running_while_the_api_is_down(fleet: Fleet, devices) -> None:
    first = fleet.push()
    one = devices(6)  # 9 belongs to the registry-token tests
    one.start(fleet.api, fleet.provisioning_key)
    wait_running([one], first)
    fleet.gw.stop()
    try:
        one.stop()
        one.restart()  # an agent that starts while the API is down keeps its last target
        time.sleep(3)
        assert one.runs(first)
        assert one.proc is not None and one.proc.poll() is None
        assert "keeping the current target" in one.log.read_text()
    finally:
        fleet.gw.start()
    second = fleet.push()
    wait_running([one], second, timeout=30)
