"""The pure planner `steps(current, target)`: each update strategy's exact order, as tables."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from fleetgate.deploy.agent.steps import (
    HANDING_OVER,
    LOCKED,
    ClearHandover,
    Create,
    CreateNetwork,
    CreateVolume,
    Fetch,
    Kill,
    RemoveImage,
    RemoveNetwork,
    Rename,
    Start,
    Step,
    Wait,
    steps,
)
from fleetgate.deploy.device_state import Container, CurrentState, Image, TargetState, parse_target

A, B = "a" * 40, "b" * 40
REPO = "127.0.0.1:5001/alice/demo"
NOW = 1000.0


def ref(service: str, release: str, tag: str = "") -> str:
    return f"{REPO}/{service}@sha256:{(release[0] + tag) * 32}"[: len(REPO) + len(service) + 73]


def document(release: str | None, services: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {
        name: {
            "image": spec.pop("image", ref(name, release or "0")),
            "compose": spec,
            "environment": spec.pop("env", {}),
        }
        for name, spec in ((n, dict(s)) for n, s in services.items())
    }
    return {
        "device": {"uuid": "d" * 32, "lock_override": extra.pop("lock_override", False)},
        "fleet": {"slug": "alice/demo", "name": "demo", "id": 3},
        "release": {"hash": release, "name": "alice/demo#1"} if release else None,
        "services": body,
        "networks": extra.pop("networks", {}),
        "volumes": extra.pop("volumes", {}),
        "registry": None,
    }


def target(release: str | None, services: dict[str, dict[str, Any]], **extra: Any) -> TargetState:
    return parse_target(document(release, services, **extra))


def running(state: TargetState, started: float = 0.0, **images: str) -> CurrentState:
    """The device running `state` completely (images named by service may be overridden)."""
    containers, found = [], []
    for s in state.services:
        image = images.get(s.name, s.image)
        name = f"{s.name}_{state.short_release}"
        containers.append(Container(f"c-{name}", name, s.name, state.short_release, image, f"id-{image}",
                                    s.config_hash, "running", started))  # fmt: skip
        found.append(Image(f"id-{image}", (image,)))
    return CurrentState(
        tuple(containers), tuple(dict.fromkeys(found)), state.networks, state.volumes, (), (), NOW
    )


def apply(current: CurrentState, step: Step, goal: TargetState) -> CurrentState:
    """What Docker shows after the agent executed `step` (the executor, simulated)."""
    c = current
    if isinstance(step, Fetch):
        return dataclasses.replace(c, images=(*c.images, Image(f"id-{step.image}", (step.image,))))
    if isinstance(step, Kill):
        return dataclasses.replace(c, containers=tuple(x for x in c.containers if x.name != step.name))
    if isinstance(step, RemoveImage):
        return dataclasses.replace(c, images=tuple(i for i in c.images if i.id != step.image_id))
    if isinstance(step, Create):
        s = goal.service(step.service)
        assert s is not None
        made = Container(f"c-{step.name}", step.name, s.name, goal.short_release, s.image, f"id-{s.image}",
                         s.config_hash, "created", None)  # fmt: skip
        return dataclasses.replace(c, containers=(*c.containers, made))
    if isinstance(step, Start):
        return dataclasses.replace(c, containers=tuple(
            dataclasses.replace(x, status="running", started_at=c.now) if x.name == step.name else x
            for x in c.containers
        ))  # fmt: skip
    if isinstance(step, Rename):
        moved = dataclasses.replace  # the container keeps its id and config; its name says the release
        return dataclasses.replace(c, containers=tuple(
            moved(x, name=step.new_name, release=goal.short_release) if x.name == step.name else x
            for x in c.containers
        ))  # fmt: skip
    if isinstance(step, ClearHandover):
        return dataclasses.replace(c, handover_done=tuple(s for s in c.handover_done if s != step.service))
    if isinstance(step, CreateNetwork):
        return dataclasses.replace(c, networks=(*c.networks, step.name))
    if isinstance(step, CreateVolume):
        return dataclasses.replace(c, volumes=(*c.volumes, step.name))
    if isinstance(step, RemoveNetwork):
        return dataclasses.replace(c, networks=tuple(n for n in c.networks if n != step.name))
    raise AssertionError(f"cannot simulate {step}")


def execute(current: CurrentState, goal: TargetState, limit: int = 30) -> tuple[list[Step], CurrentState]:
    """Run the agent's loop (plan, execute the first step, plan again) until done or waiting."""
    done: list[Step] = []
    for _ in range(limit):
        plan = steps(current, goal)
        if not plan or isinstance(plan[0], Wait):
            return done, current
        done.append(plan[0])
        current = apply(current, plan[0], goal)
    raise AssertionError(f"no convergence after {limit} steps: {done}")


def _strategy(name: str, **labels: str) -> dict[str, Any]:
    return {"main": {"labels": {"io.balena.update.strategy": name, **labels}}}


OLD_A = "main_" + A[:12]
NEW_B = "main_" + B[:12]
IMG_A, IMG_B = ref("main", A), ref("main", B)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (None, [Fetch("main", IMG_B), Kill("main", OLD_A), Create("main", NEW_B), Start("main", NEW_B),
                RemoveImage(f"id-{IMG_A}", IMG_A)]),
        ("download-then-kill", [Fetch("main", IMG_B), Kill("main", OLD_A), Create("main", NEW_B),
                                Start("main", NEW_B), RemoveImage(f"id-{IMG_A}", IMG_A)]),
        ("kill-then-download", [Kill("main", OLD_A), Fetch("main", IMG_B), Create("main", NEW_B),
                                Start("main", NEW_B), RemoveImage(f"id-{IMG_A}", IMG_A)]),
        ("delete-then-download", [Kill("main", OLD_A), RemoveImage(f"id-{IMG_A}", IMG_A),
                                  Fetch("main", IMG_B), Create("main", NEW_B), Start("main", NEW_B)]),
        ("no-such-strategy", [Fetch("main", IMG_B), Kill("main", OLD_A), Create("main", NEW_B),
                              Start("main", NEW_B), RemoveImage(f"id-{IMG_A}", IMG_A)]),
    ],
)  # fmt: skip
def test_each_strategy_replaces_a_service_in_its_order(strategy: str | None, expected: list[Step]) -> None:
    services = {"main": {}} if strategy is None else _strategy(strategy)
    current = running(target(A, services))
    goal = target(B, services)
    assert list(steps(current, goal)) == expected
    # Re-entrant: executing one step at a time and planning again walks exactly that plan.
    done, end = execute(current, goal)
    assert done == expected
    assert steps(end, goal) == ()


def test_a_restart_after_any_step_converges_to_the_same_end() -> None:
    for strategy in ("download-then-kill", "kill-then-download", "delete-then-download"):
        current, goal = running(target(A, _strategy(strategy))), target(B, _strategy(strategy))
        full = list(steps(current, goal))
        for k in range(len(full) + 1):
            state = current
            for step in full[:k]:
                state = apply(state, step, goal)
            assert list(steps(state, goal)) == full[k:], (strategy, k)


HANDOVER = _strategy("hand-over", **{"io.balena.update.handover-timeout": "5000"})


def test_hand_over_starts_the_new_one_beside_the_old_one_and_waits() -> None:
    current, goal = running(target(A, HANDOVER)), target(B, HANDOVER)
    assert steps(current, goal) == (
        Fetch("main", IMG_B),
        Create("main", NEW_B),
        Start("main", NEW_B),
        Wait(HANDING_OVER, ("main",), NOW + 5),
        Kill("main", OLD_A),
        RemoveImage(f"id-{IMG_A}", IMG_A),
    )
    done, both = execute(current, goal)
    assert done == [Fetch("main", IMG_B), Create("main", NEW_B), Start("main", NEW_B)]
    assert {c.name: c.status for c in both.containers} == {OLD_A: "running", NEW_B: "running"}
    assert steps(both, goal)[0] == Wait(HANDING_OVER, ("main",), NOW + 5)


@pytest.mark.parametrize(
    ("now", "done", "expected"),
    [
        (NOW + 4.9, (), [Wait(HANDING_OVER, ("main",), NOW + 5), Kill("main", OLD_A),
                         RemoveImage(f"id-{IMG_A}", IMG_A)]),
        (NOW + 1, ("main",), [Kill("main", OLD_A), ClearHandover("main"), RemoveImage(f"id-{IMG_A}", IMG_A)]),
        (NOW + 5, (), [Kill("main", OLD_A), RemoveImage(f"id-{IMG_A}", IMG_A)]),
    ],
)  # fmt: skip
def test_hand_over_ends_on_the_kill_me_file_or_the_timeout(now: float, done: tuple, expected: list) -> None:
    goal = target(B, HANDOVER)
    _, both = execute(running(target(A, HANDOVER)), goal)
    assert list(steps(dataclasses.replace(both, now=now, handover_done=done), goal)) == expected


def test_a_stale_handover_file_is_cleared_before_the_new_container_starts() -> None:
    current = dataclasses.replace(running(target(A, HANDOVER)), handover_done=("main",))
    assert steps(current, target(B, HANDOVER))[:3] == (
        Fetch("main", IMG_B),
        ClearHandover("main"),
        Create("main", NEW_B),
    )


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("download-then-kill", [Fetch("main", IMG_B), Wait(LOCKED, ("main",))]),
        ("hand-over", [Fetch("main", IMG_B), Wait(LOCKED, ("main",))]),
        ("kill-then-download", [Wait(LOCKED, ("main",))]),
        ("delete-then-download", [Wait(LOCKED, ("main",))]),
    ],
)
def test_an_update_lock_downloads_but_holds_the_swap(strategy: str, expected: list[Step]) -> None:
    current = dataclasses.replace(running(target(A, _strategy(strategy))), locked=("main",))
    goal = target(B, _strategy(strategy))
    assert list(steps(current, goal)) == expected
    done, held = execute(current, goal)
    assert steps(held, goal) == (Wait(LOCKED, ("main",)),)
    assert [c.name for c in held.containers] == [OLD_A]
    unlocked = dataclasses.replace(held, locked=())
    assert Kill("main", OLD_A) in steps(unlocked, goal)


def test_the_lock_override_replaces_anyway_and_a_lock_with_nothing_to_do_is_quiet() -> None:
    locked = dataclasses.replace(running(target(A, {"main": {}})), locked=("main",))
    assert steps(locked, target(B, {"main": {}}, lock_override=True))[1] == Kill("main", OLD_A)
    assert steps(locked, target(A, {"main": {}})) == ()
    another = dataclasses.replace(running(target(A, {"main": {}, "side": {}})), locked=("side",))
    assert steps(another, target(B, {"main": {}, "side": {}}))[-1] == Wait(LOCKED, ("side",))


def test_nothing_to_do_when_the_device_runs_the_target() -> None:
    goal = target(A, {"main": {}, "side": {"network_mode": "host"}}, volumes={"data": {}})
    assert steps(running(goal), goal) == ()


def test_a_fresh_device_creates_network_and_volume_once_then_starts_in_dependency_order() -> None:
    goal = target(
        A,
        {"web": {"depends_on": ["db"], "volumes": ["data:/data"]}, "db": {}},
        volumes={"data": {}},
    )
    empty = CurrentState((), (), (), (), (), (), NOW)
    assert steps(empty, goal) == (
        CreateNetwork("3_default"),
        CreateVolume("3_data"),
        Fetch("db", ref("db", A)),
        Create("db", "db_" + A[:12]),
        Start("db", "db_" + A[:12]),
        Fetch("web", ref("web", A)),
        Create("web", "web_" + A[:12]),
        Start("web", "web_" + A[:12]),
    )


def test_volumes_are_kept_across_releases_and_networks_not_made_twice() -> None:
    old = target(A, {"main": {"volumes": ["data:/data"]}}, volumes={"data": {}}, networks={"back": {}})
    new = target(B, {"main": {"volumes": ["data:/data"], "env": {"X": "1"}}}, volumes={"data": {}})
    plan = steps(running(old), new)
    assert not any(isinstance(s, (CreateVolume, CreateNetwork)) for s in plan)
    assert plan[-1] == RemoveNetwork("3_back")
    gone = target(B, {"main": {}})  # a release without the volume: the data stays on the device
    assert not any("3_data" in str(s) for s in steps(running(old), gone))


def test_an_unchanged_service_moves_to_the_new_release_without_a_restart() -> None:
    same_image = {"main": {"image": ref("main", A)}, "side": {}}
    plan = steps(running(target(A, same_image)), target(B, same_image))
    assert plan[0] == Rename("main", OLD_A, NEW_B)
    assert Kill("side", "side_" + A[:12]) in plan and Kill("main", OLD_A) not in plan
    changed = {"main": {"image": ref("main", A), "env": {"LEVEL": "2"}}}
    assert Kill("main", OLD_A) in steps(running(target(A, same_image)), target(B, changed))


def test_a_changed_variable_recreates_the_container_of_the_same_release() -> None:
    before, after = target(A, {"main": {"env": {"X": "1"}}}), target(A, {"main": {"env": {"X": "2"}}})
    plan = steps(running(before), after)
    assert plan == (Kill("main", OLD_A), Create("main", OLD_A), Start("main", OLD_A))


def test_removed_services_are_killed_and_foreign_images_stay() -> None:
    current = running(target(A, {"main": {}, "gone": {}}))
    current = dataclasses.replace(current, images=(*current.images, Image("id-busybox", ("busybox-fg",))))
    plan = steps(current, target(B, {"main": {"image": ref("main", A)}}))
    gone_image = ref("gone", A)
    assert plan == (
        Kill("gone", "gone_" + A[:12]),
        Rename("main", OLD_A, NEW_B),
        RemoveImage(f"id-{gone_image}", gone_image),
    )


def test_two_services_of_one_image_pull_it_once() -> None:
    shared = ref("main", B)
    goal = target(B, {"one": {"image": shared}, "two": {"image": shared}})
    plan = steps(CurrentState((), (), ("3_default",), (), (), (), NOW), goal)
    assert [s for s in plan if isinstance(s, Fetch)] == [Fetch("one", shared)]


def test_a_created_but_never_started_container_is_started() -> None:
    goal = target(A, {"main": {}})
    current = running(goal)
    current = dataclasses.replace(
        current, containers=(dataclasses.replace(current.containers[0], status="created"),)
    )
    assert steps(current, goal) == (Start("main", OLD_A),)


def test_a_hand_over_file_left_after_the_old_container_went_is_cleared() -> None:
    goal = target(B, HANDOVER)
    current = dataclasses.replace(running(goal), handover_done=("main",))
    assert steps(current, goal) == (ClearHandover("main"),)
