"""What the agent reports (PATCH /v1/device/state) for each kind of plan, as a table."""

from __future__ import annotations

import dataclasses

import pytest
from fleetgate.deploy.agent.report import device_report
from fleetgate.deploy.agent.steps import HANDING_OVER, LOCKED, Create, Fetch, Kill, Wait

from .test_steps import IMG_B, NEW_B, OLD_A, A, B, running, target

GOAL = target(B, {"main": {}})
CURRENT = running(target(A, {"main": {}}))


@pytest.mark.parametrize(
    ("plan", "status", "progress", "service"),
    [
        ((), "idle", None, {"status": "running", "release": A, "progress": None}),
        ((Fetch("main", IMG_B), Kill("main", OLD_A)), "downloading", 40,
         {"status": "downloading", "release": A, "progress": 40}),
        ((Kill("main", OLD_A), Create("main", NEW_B)), "installing", None,
         {"status": "running", "release": A, "progress": None}),
        ((Wait(LOCKED, ("main",)),), "update locked", None,
         {"status": "running", "release": A, "progress": None}),
    ],
)  # fmt: skip
def test_status_progress_and_services(plan: tuple, status: str, progress: int | None, service: dict) -> None:
    body = device_report(plan, CURRENT, GOAL, A, {"main": 40})
    assert (body["status"], body["progress"], body["services"]["main"]) == (status, progress, service)
    assert body["release"] == (B if not plan else A)


def test_the_new_release_running_and_a_hand_over_in_progress() -> None:
    both = dataclasses.replace(CURRENT, containers=(*CURRENT.containers, *running(GOAL).containers))
    body = device_report((Wait(HANDING_OVER, ("main",), 5.0), Kill("main", OLD_A)), both, GOAL, A, {})
    assert body["status"] == "installing"
    assert body["services"]["main"] == {"status": "handing over", "release": B, "progress": None}
    assert device_report((), running(GOAL), GOAL, A, {})["services"]["main"]["release"] == B


def test_an_error_says_so_with_its_message() -> None:
    message = "cannot pull x: denied; check the registry"
    body = device_report((Fetch("main", IMG_B),), CURRENT, GOAL, A, {}, message)
    assert (body["status"], body["message"]) == ("error", message)
