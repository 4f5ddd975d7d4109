"""How a rollout names a container that died: the exit code survives a restart by the policy.

Replays a CI failure: a worker that exits with status 3 was caught running again after its restart, when
Docker had reset its exit code to 0, and the rollout said "exited with status 0".
"""

from __future__ import annotations

from fleetgate.deploy.servers.host_containers import ContainerState
from fleetgate.deploy.servers.host_rollout import death_reason


def states(*sequence: ContainerState):
    found = iter(sequence)
    return lambda: next(found)


def test_a_container_caught_running_after_a_restart_is_read_again_between_runs() -> None:
    running_again = ContainerState("running", "none", 1, 0)
    between_runs = ContainerState("restarting", "none", 1, 3)
    assert death_reason(running_again, states(running_again, between_runs)) == "exited with status 3"


def test_an_exited_container_says_its_code_at_once() -> None:
    exited = ContainerState("exited", "none", 0, 3)
    assert death_reason(exited, states()) == "exited with status 3"


def test_one_never_seen_between_runs_says_it_restarted() -> None:
    running_again = ContainerState("running", "none", 2, 0)
    assert death_reason(running_again, lambda: running_again, wait=0.3) == "exited and was restarted 2 times"
