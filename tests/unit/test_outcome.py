"""How a push ends, in words: one error line naming service and release, honest ends (issue 19)."""

from __future__ import annotations

import pytest
from fleetgate.build.docker_build import BuilderUnavailable, BuildFailed
from fleetgate.build.publish import PublishFailed
from fleetgate.build.release import ServiceFailed
from fleetgate.hooks.build_failure import Failure, classify
from fleetgate.hooks.outcome import (
    REASON_WIDTH,
    Landing,
    Said,
    build_failed,
    landed,
    rollout_failed,
    servers_line,
)
from fleetgate.hooks.output import TEXT_WIDTH, WIDTH

STEP = "step 'RUN exit 3' exited with code 3"


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (ServiceFailed(STEP, {}, service="main"), Failure("failed", "main", STEP, True)),
        (
            ServiceFailed("build cancelled", {}, True, "main"),
            Failure("cancelled", "main", "the client disconnected", True),
        ),
        (
            ValueError("nothing to build in the root"),
            Failure("failed", None, "nothing to build in the root", True),
        ),
        (
            BuildFailed("build timed out after 60 s"),
            Failure("failed", None, "build timed out after 60 s", True),
        ),
        (
            PublishFailed("registry r answered 500", "web"),
            Failure("failed", "web", "registry r answered 500", False),
        ),
        (
            BuilderUnavailable("cannot reach the Docker daemon"),
            Failure("failed", None, "cannot reach the Docker daemon", False),
        ),
        (KeyError("x"), Failure("failed", None, "internal error in fleetgate", False)),
    ],
)
def test_whose_fault(error: Exception, failure: Failure) -> None:
    assert classify(error) == failure


def test_a_failed_service_names_service_and_release_once_each_without_a_doubled_prefix() -> None:
    said = build_failed("alice/br#2", Failure("failed", "main", STEP, True))
    assert said == Said(
        "Error",
        f"alice/br#2: service main failed to build: {STEP}",
        "build failed: service main of alice/br#2",
        f"build failed: service main: {STEP}",
    )


def test_a_bad_project_names_the_release() -> None:
    said = build_failed("alice/empty#1", Failure("failed", None, "nothing to build", True))
    assert (said.line, said.reason, said.stored) == (
        "alice/empty#1 failed to build: nothing to build",
        "build failed: alice/empty#1; see above",
        "build failed: nothing to build",
    )


def test_fleetgates_fault_carries_the_reference_to_the_log() -> None:
    said = build_failed("alice/x#3", Failure("failed", "web", "registry r answered 500", False), "0badc0de")
    assert said.line == "alice/x#3: service web failed to build: registry r answered 500 (reference 0badc0de)"
    assert said.reason == "build failed: gateway fault (reference 0badc0de)"


def test_the_rejected_refs_reason_keeps_gits_line_within_the_width() -> None:
    long = Failure("failed", "a-service-with-a-long-name", STEP, True)
    reason = build_failed("an-owner-with-a-long-name/and-a-long-fleet#1234", long).reason
    assert len(reason) == REASON_WIDTH and reason.endswith("…")
    assert len(f" ! [remote rejected] master -> balena-nocache ({reason})") <= WIDTH


def test_a_failed_rollout() -> None:
    said = rollout_failed("alice/site#2", "rollout failed on 127.0.0.16:2216: container web is unhealthy")
    assert (
        said.line
        == "alice/site#2 not deployed: rollout failed on 127.0.0.16:2216: container web is unhealthy"
    )
    assert said.reason == "rollout failed on 127.0.0.16:2216: container web is…"
    assert said.stored == "rollout failed on 127.0.0.16:2216: container web is unhealthy"
    assert servers_line(["failed", "switched back", "not started", "switched back"]) == (
        "Servers: 1 failed, 1 not started, 2 switched back"
    )


@pytest.mark.parametrize(
    ("landing", "kind", "line"),
    [
        (
            Landing("alice/demo#3", "alice/demo", "alice/demo#3", False),
            "Success",
            "Deployed alice/demo#3: the fleet's target (no devices or servers yet)",
        ),
        (
            Landing("alice/demo#3", "alice/demo", "alice/demo#3", False, devices=1),
            "Success",
            "Deployed alice/demo#3: 1 device update to it",
        ),
        (
            Landing("alice/site#4", "alice/site", "alice/site#4", False, (4, 4), 2),
            "Success",
            "Deployed alice/site#4: rolled out to 4 of 4 servers; 2 devices update to it",
        ),
        (
            Landing("alice/site#4", "alice/site", "alice/site#4", False, (1, 1)),
            "Success",
            "Deployed alice/site#4: rolled out to 1 of 1 server",
        ),
        (
            Landing("alice/demo#3", "alice/demo", "alice/demo#1", True, devices=5),
            "Warn",
            "Built alice/demo#3, not deployed: the fleet is pinned to #1 "
            "(to follow pushes again: fleetgate fleet pin alice/demo --latest)",
        ),
        (
            Landing("alice/demo#3", "alice/demo", "alice/demo#4", False),
            "Warn",
            "Built alice/demo#3; the fleet's target stays #4, a newer release",
        ),
    ],
)
def test_the_end_says_what_really_happened(landing: Landing, kind: str, line: str) -> None:
    said = landed(landing)
    assert (said.kind, said.line, said.reason) == (kind, line, "")


def test_the_status_text_width_leaves_room_for_git_and_the_tag() -> None:
    assert TEXT_WIDTH + len("remote: ") + len("[Success]  ") == WIDTH
