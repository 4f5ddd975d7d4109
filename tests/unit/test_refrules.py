"""Branch rules and push options: which pushes build, with what, and what moves (DESIGN.md §2.3)."""

from __future__ import annotations

import pytest
from fleetgate.build.plan import BuildOptions
from fleetgate.hooks.options import OptionRefused, build_options
from fleetgate.hooks.refrules import RefRefused, is_kept, rule_for

MASTER = b"refs/heads/master"


@pytest.mark.parametrize(
    ("ref", "options", "moves"),
    [
        (b"refs/heads/master", frozenset(), MASTER),
        (b"refs/heads/main", frozenset(), MASTER),
        (b"refs/heads/balena-nocache", frozenset({"nocache"}), MASTER),
        (b"refs/heads/balena-emulated", frozenset({"emulated"}), MASTER),
    ],
)
def test_deploy_branches(ref: bytes, options: frozenset[str], moves: bytes) -> None:
    rule = rule_for(ref, deleting=False)
    assert (rule.options, rule.moves) == (options, moves)


@pytest.mark.parametrize(
    ("ref", "deleting", "message"),
    [
        (
            b"refs/heads/feature",
            False,
            "only master deploys; push to master instead: git push <remote> my-branch:master",
        ),
        (
            b"refs/heads/master",
            True,
            "deleting refs/heads/master is not allowed; a fleet's master is its deploy history",
        ),
        (
            b"refs/heads/balena-nocache",
            True,
            "deleting refs/heads/balena-nocache is not allowed; a fleet's master is its deploy history",
        ),
        (
            b"refs/notes/commits",
            False,
            "only master deploys; push to master instead: git push <remote> my-branch:master",
        ),
    ],
)
def test_refused_refs_say_what_to_push(ref: bytes, deleting: bool, message: str) -> None:
    with pytest.raises(RefRefused) as refused:
        rule_for(ref, deleting)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("ref", "kept"),
    [
        (b"refs/tags/v1", True),
        (b"refs/tags/release/2026-11", True),
        (b"refs/heads/master", False),
        (b"refs/heads/tags/v1", False),
        (b"refs/notes/commits", False),
    ],
)
def test_tags_are_kept_as_pushed_and_never_built(ref: bytes, kept: bool) -> None:
    assert is_kept(ref) is kept


@pytest.mark.parametrize(
    ("ref", "push_options", "expected"),
    [
        (MASTER, (), BuildOptions()),
        (MASTER, ("nocache",), BuildOptions(nocache=True)),
        (MASTER, ("nocache", "emulated"), BuildOptions(nocache=True, emulated=True)),
        (b"refs/heads/balena-nocache", ("emulated",), BuildOptions(nocache=True, emulated=True)),
        (
            b"refs/heads/balena-emulated",
            ("plain", "detach"),
            BuildOptions(emulated=True, plain=True, detach=True),
        ),
        (MASTER, ("note=first light",), BuildOptions(note="first light")),
        (MASTER, ("note=a=b",), BuildOptions(note="a=b")),
        (MASTER, ("note=",), BuildOptions(note="")),
    ],
)
def test_options_combine_branch_and_push_options(
    ref: bytes, push_options: tuple[str, ...], expected: BuildOptions
) -> None:
    assert build_options(rule_for(ref, False), push_options) == expected


@pytest.mark.parametrize("option", ["turbo", "nocache=1", "note", "NOCACHE", ""])
def test_unknown_push_options_are_refused(option: str) -> None:
    with pytest.raises(OptionRefused) as refused:
        build_options(rule_for(MASTER, False), (option,))
    assert str(refused.value) == (
        f"unknown push option {option!r}; "
        "known options: nocache, emulated, detach, plain, note=<text>, wait=devices"
    )


def test_options_recorded_on_the_release() -> None:
    assert BuildOptions(nocache=True, plain=True, note="x").names() == ("nocache", "plain")
