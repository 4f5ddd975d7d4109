"""References through the bounded cache: the answers of a plain dict, whatever the cache held."""

from __future__ import annotations

import hashlib
import random

import pytest
from fleetgate.gitd import links as links_module
from fleetgate.gitd.links import Links

BLOB = 3


def _sha(n: int) -> bytes:
    return hashlib.sha1(b"%d" % n).digest()


@pytest.mark.parametrize("generation", [2, 16, 1 << 15])
def test_missing_and_places_match_a_plain_dict(monkeypatch: pytest.MonkeyPatch, generation: int) -> None:
    monkeypatch.setattr(links_module, "CACHE_GENERATION", generation)
    rng = random.Random(generation)
    links = Links(depth_cap=4096, path_cap=4096)
    present: dict[bytes, int] = {}
    referenced: set[bytes] = set()
    for step in range(3000):
        if rng.random() < 0.4:  # an object arrives (often one referenced before)
            n = rng.randrange(1500)
            sha = _sha(n)
            place = links.allot()
            if sha in present:
                assert not links.arrived(place, BLOB, sha)
                continue
            assert links.arrived(place, BLOB, sha)
            present[sha] = place
        else:  # a tree names a few objects, some of them twice
            shas = [_sha(rng.randrange(1500)) for _ in range(rng.randrange(1, 8))]
            links.refer(shas)
            referenced.update(shas)
            assert links.places_of(shas) == [present.get(sha) for sha in shas], step
    links.finish()
    assert set(links.missing()) == referenced - present.keys()
    assert all(links.kind_of(sha) == BLOB for sha in present)
    assert links.kind_of(_sha(99_999)) is None
    links.close()
