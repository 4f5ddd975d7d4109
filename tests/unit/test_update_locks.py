"""Update locks in a device's lock folders: the app's, the agent's own, and a stale one of the agent's."""

from __future__ import annotations

import pytest
from fleetgate.deploy.agent.update_locks import OWN, held_by_app, taken


@pytest.fixture
def root(tmp_path):
    for service in ("main", "worker"):
        (tmp_path / service).mkdir()
    return tmp_path


@pytest.mark.parametrize(
    ("files", "held"),
    [
        ({}, ()),
        ({"main/updates.lock": b""}, ("main",)),
        ({"worker/resin-updates.lock": b""}, ("worker",)),  # the legacy /tmp/resin/resin-updates.lock
        ({"main/updates.lock": b"", "worker/updates.lock": b"pid 12\n"}, ("main", "worker")),
        ({"main/updates.lock": OWN}, ()),  # the agent's own, left by a SIGKILL: not the app's lock
        ({"main/handover-complete": b""}, ()),
    ],
)
def test_held_by_app(root, files, held):
    for name, content in files.items():
        (root / name).write_bytes(content)
    assert held_by_app(root) == held


def test_the_agent_holds_every_lock_for_the_block_and_removes_them(root):
    with taken(root) as free:
        assert free
        for service in ("main", "worker"):
            for name in ("updates.lock", "resin-updates.lock"):
                assert (root / service / name).read_bytes() == OWN
        assert held_by_app(root) == ()
    assert sorted(p.name for p in root.rglob("*.lock")) == []


def test_an_app_that_holds_its_lock_keeps_the_agent_out(root):
    (root / "worker" / "updates.lock").touch()
    with taken(root) as free:
        assert not free
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.lock")) == ["worker/updates.lock"]


def test_a_stale_lock_of_the_agent_is_taken_over(root):
    (root / "main" / "updates.lock").write_bytes(OWN)
    with taken(root) as free:
        assert free
    assert list(root.rglob("*.lock")) == []


def test_no_lock_folders_yet(tmp_path):
    with taken(tmp_path / "missing") as free:
        assert free
    assert held_by_app(tmp_path / "missing") == ()
