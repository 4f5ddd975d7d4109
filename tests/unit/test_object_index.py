"""The pack's objects by name: places, duplicates, growth, the index's order, names chosen to collide."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetgate.gitd.object_index import NULL, ObjectIndex


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ObjectIndex]:
    with ObjectIndex(str(tmp_path)) as index:
        yield index
    assert not os.listdir(tmp_path)  # the scratch files were never linked into the folder


def _sha(n: int) -> bytes:
    return hashlib.sha1(b"%d" % n).digest()


def test_names_find_their_places_across_growth(index: ObjectIndex) -> None:
    places = [index.allot() for _ in range(5000)]
    assert places == list(range(5000))
    for place in reversed(places):  # named out of pack order, as deltas resolve
        assert index.name(place, _sha(place))
    assert [index.get(_sha(n)) for n in (0, 1, 4999)] == [0, 1, 4999]
    assert index.get(_sha(5000)) is None
    assert index.sha_at(1234) == _sha(1234)


def test_a_name_given_twice_is_refused(index: ObjectIndex) -> None:
    first, second = index.allot(), index.allot()
    assert index.name(first, _sha(1))
    assert not index.name(second, _sha(1))
    assert index.get(_sha(1)) == first
    assert index.sha_at(second) == NULL  # still unresolved


def test_places_come_sorted_by_name_for_the_pack_index(index: ObjectIndex) -> None:
    for n in range(3000):
        index.name(index.allot(), _sha(n))
    order = [place for _, place in index.by_name()]
    assert [index.sha_at(p) for p in order] == sorted(_sha(n) for n in range(3000))


def test_names_sharing_a_long_prefix_do_not_share_slots(index: ObjectIndex) -> None:
    # A pusher can choose names (brute force) that agree in their first bytes; slots come from a keyed
    # hash, so such names spread like any others and each still finds its own place.
    names = [b"\xab" * 12 + n.to_bytes(8, "big") for n in range(4000)]
    for name in names:
        assert index.name(index.allot(), name)
    assert [index.get(name) for name in names] == list(range(4000))
    assert index.get(b"\xab" * 20) is None
