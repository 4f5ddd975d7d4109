"""Tree depth and path length measured as trees arrive, in any order, with the caps checked on the way."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fleetgate.gitd.object_index import ObjectIndex
from fleetgate.gitd.pack_stream import PackRejected
from fleetgate.gitd.tree_shapes import TreeShapes

OPEN: list[ObjectIndex] = []


@pytest.fixture(autouse=True)
def _close_indexes() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def _sha(name: str) -> bytes:
    return hashlib.sha1(name.encode()).digest()


class Pack:
    """Trees arriving one by one: name -> (longest file name, [(subtree name, entry name length)])."""

    def __init__(self, depth_cap: int = 4096, path_cap: int = 4096) -> None:
        self.objects = ObjectIndex()
        OPEN.append(self.objects)
        self.shapes = TreeShapes(self.objects, depth_cap, path_cap)

    def blob(self, name: str) -> None:
        self.shapes.allot()
        self.objects.name(self.objects.allot(), _sha(name))

    def tree(self, name: str, longest: int, subtrees: list[tuple[str, int]] = ()) -> int:
        place = self.objects.allot()
        self.shapes.allot()
        self.objects.name(place, _sha(name))
        shas = [_sha(child) for child, _ in subtrees]
        self.shapes.add(
            _sha(name), place, longest, shas, list(map(self.objects.get, shas)), [n for _, n in subtrees]
        )
        return place

    def measure(self, name: str) -> tuple[int, int]:
        place = self.objects.get(_sha(name))
        return self.shapes.depth[place], self.shapes.path[place]


def test_a_parent_before_its_subtree_is_measured_when_the_subtree_arrives() -> None:
    pack = Pack()
    pack.tree("root", 4, [("dir", 3)])  # git's order: a tree before the subtrees it introduces
    assert pack.measure("root") == (0, 0)  # waiting
    pack.tree("dir", 5)
    assert pack.measure("dir") == (1, 5)
    assert pack.measure("root") == (2, 3 + 1 + 5)


def test_a_subtree_already_measured_counts_at_once() -> None:
    pack = Pack()
    pack.tree("dir", 5)
    pack.tree("root", 4, [("dir", 3)])
    assert pack.measure("root") == (2, 9)


def test_chains_complete_in_order_and_a_subtree_listed_twice_is_waited_for_twice() -> None:
    pack = Pack()
    pack.tree("root", 1, [("a", 1), ("b", 10)])
    pack.tree("a", 1, [("leaf", 2)])
    pack.tree("b", 1, [("leaf", 2)])
    assert pack.measure("root") == (0, 0)
    pack.tree("leaf", 7)
    assert [pack.measure(t) for t in ("leaf", "a", "b", "root")] == [(1, 7), (2, 10), (2, 10), (3, 21)]


@pytest.mark.parametrize(
    ("arrives", "expected"),
    [
        (None, (2, 4)),  # never sent (the repository's tree): one level, its name
        ("blob", (2, 4)),  # a subtree entry naming a blob: nothing below it
    ],
)
def test_a_subtree_the_pack_does_not_bring_counts_as_a_leaf(arrives: str | None, expected: tuple) -> None:
    pack = Pack()
    if arrives:
        pack.blob("old")
    pack.tree("root", 2, [("old", 3)])
    pack.shapes.finish()
    assert pack.measure("root") == expected


def test_the_depth_cap_stops_the_pack_when_the_tree_completes_not_at_the_end() -> None:
    pack = Pack(depth_cap=3)
    pack.tree("t3", 1, [("t2", 1)])
    pack.tree("t2", 1, [("t1", 1)])
    pack.tree("t1", 1, [("t0", 1)])
    with pytest.raises(PackRejected, match=f"tree {_sha('t3').hex()} is nested 4 deep, over the cap of 3"):
        pack.tree("t0", 1)


def test_the_path_cap_counts_names_and_slashes() -> None:
    pack = Pack(path_cap=10)
    pack.tree("leaf", 5)
    pack.tree("ok", 1, [("leaf", 4)])  # 4 + 1 + 5 = 10
    with pytest.raises(PackRejected, match="is 11 bytes long, over the cap of 10"):
        pack.tree("over", 1, [("leaf", 5)])


def test_a_hostile_depth_top_down_is_measured_without_recursion() -> None:
    pack = Pack(depth_cap=100_000, path_cap=100_000)
    for level in range(20_000, 0, -1):
        pack.tree(f"t{level}", 1, [(f"t{level - 1}", 1)])
    pack.tree("t0", 1)
    assert pack.measure("t20000") == (20_001, 20_001 + 20_000)
