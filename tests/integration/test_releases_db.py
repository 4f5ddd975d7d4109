"""Release records against real databases, SQLite and PostgreSQL (DESIGN.md §2.4 *record*, §8)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from fleetgate import fleets, leases, models, release_images, release_leases, releases, users
from fleetgate.db import Database
from fleetgate.models import utcnow
from fleetgate.releases import ReleaseError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
KEY = "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
COMPOSITION = "version: '2.1'\nservices:\n  main:\n    image: reg/alice/web/main@sha256:00\n"


def start(session, fleet_id: int, node: str = "node-a", ttl: float = 60.0, **given) -> releases.Release:
    args = {
        "commit": COMMIT,
        "branch": "refs/heads/master",
        "options": (),
        "note": None,
        "user": "alice",
        "key_fingerprint": KEY,
        "builder": "unix:///var/run/docker.sock",
        "platform": "linux/arm/v7",
        **given,
    }
    return releases.start_release(session, fleet_id, node_id=node, lease_ttl=ttl, **args)


@pytest.fixture
def fleet_ids(database: Database) -> tuple[int, int]:
    with database.session() as session:
        users.add_user(session, "alice")
        web = fleets.create_fleet(session, "alice", "web", "raspberrypi3")
        api = fleets.create_fleet(session, "alice", "api", "intel-nuc")
    return web.id, api.id


def set_hash(database: Database, release_id: int, value: str) -> None:
    with database.session() as session:
        session.execute(update(models.Release).where(models.Release.id == release_id).values(hash=value))


def test_start_numbers_per_fleet_and_takes_the_lease(database: Database, fleet_ids) -> None:
    web, api = fleet_ids
    with database.session() as session:
        first = start(session, web, options=["plain", "nocache", "emulated"], note="try\x00it")
        second = start(session, web, branch="refs/heads/balena-nocache")
        other = start(session, api)
        lease = leases.held(session, releases.LEASE_KIND, first.hash)
    assert [(r.fleet, r.number, r.name) for r in (first, second, other)] == [
        ("alice/web", 1, "alice/web#1"),
        ("alice/web", 2, "alice/web#2"),
        ("alice/api", 1, "alice/api#1"),
    ]
    assert first.options == ("nocache", "emulated", "plain")
    assert first.note == "try\ufffdit"
    assert (first.status, first.finished_at, first.composition, first.error) == ("running", None, None, None)
    assert (first.created_by_user, first.created_by_key, first.node_id) == ("alice", KEY, "node-a")
    assert (first.builder, first.platform, first.commit) == (
        "unix:///var/run/docker.sock",
        "linux/arm/v7",
        COMMIT,
    )
    assert len(first.hash) == 32 and int(first.hash, 16) >= 0 and first.hash == first.hash.lower()
    assert first.short_hash == first.hash[:7]
    assert len({first.hash, second.hash, other.hash}) == 3
    assert lease is not None and lease.node_id == "node-a"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"commit": "abc"}, "'abc' is not a commit id; give the 40 hex digits of the pushed commit"),
        ({"options": ["fast"]}, "unknown build option 'fast'; use any of: nocache, emulated, detach, plain"),
    ],
)
def test_start_refusals(database: Database, fleet_ids, given, message: str) -> None:
    with database.session() as session, pytest.raises(ReleaseError) as error:
        start(session, fleet_ids[0], **given)
    assert str(error.value) == message


def test_start_on_a_removed_fleet(database: Database) -> None:
    with database.session() as session, pytest.raises(ReleaseError) as error:
        start(session, 999)
    assert str(error.value) == "no fleet with id 999; it was removed"


def test_concurrent_starts_get_distinct_numbers(database: Database, fleet_ids) -> None:
    web = fleet_ids[0]
    count = 8
    barrier = threading.Barrier(count)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def push(n: int) -> None:
        try:
            barrier.wait()
            with database.session() as session:
                numbers.append(start(session, web, node=f"node-{n}").number)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=push, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, count + 1))


def test_images_and_success(database: Database, fleet_ids) -> None:
    with database.session() as session:
        made = start(session, fleet_ids[0])
        release_images.record_image(
            session, made.id, "main", "reg/alice/web/main:h", None, None, None, "", "building"
        )
        image = release_images.record_image(
            session,
            made.id,
            "main",
            "reg/alice/web/main:h",
            "sha256:" + "a" * 64,
            1234,
            2.5,
            "Step 1/1\n",
            "success",
        )
        release_images.record_image(
            session, made.id, "db", "reg/alice/web/db:h", "sha256:b", 10, 1.0, "ok", "success"
        )
        done = releases.finish_release(session, made.id, "success", composition=COMPOSITION)
        assert leases.held(session, releases.LEASE_KIND, made.hash) is None
        assert [i.service for i in release_images.images_of(session, made.id)] == ["db", "main"]
    assert (image.service, image.size, image.build_seconds, image.build_log) == (
        "main",
        1234,
        2.5,
        "Step 1/1\n",
    )
    assert (done.status, done.composition, done.error) == ("success", COMPOSITION, None)
    assert done.finished_at is not None and done.duration == done.finished_at - done.created_at
    with database.session() as session, pytest.raises(ReleaseError) as error:
        releases.finish_release(session, made.id, "failed", error="late")
    assert str(error.value) == "release alice/web#1 is success already; only a running one can end"
    with database.session() as session, pytest.raises(ReleaseError) as error:
        release_images.record_image(session, made.id, "main", "x", None, None, None, "", "success")
    assert str(error.value) == "release alice/web#1 is success; only a running release gets images"


def test_failure_keeps_logs_and_ends_images_still_building(database: Database, fleet_ids) -> None:
    with database.session() as session:
        made = start(session, fleet_ids[0])
        release_images.record_image(
            session, made.id, "a", "i:a", None, None, 3.0, "Step 2/4 : RUN false\n", "failed"
        )
        release_images.record_image(session, made.id, "b", "i:b", None, None, None, "Step 1/4\n", "building")
        done = releases.finish_release(session, made.id, "failed", error="service a: RUN false returned 1")
        images = release_images.images_of(session, made.id)
    assert (done.status, done.error, done.composition) == ("failed", "service a: RUN false returned 1", None)
    assert [(i.service, i.status, i.build_log) for i in images] == [
        ("a", "failed", "Step 2/4 : RUN false\n"),
        ("b", "failed", "Step 1/4\n"),
    ]


@pytest.mark.parametrize(
    ("status", "composition", "message"),
    [
        (
            "running",
            None,
            "a release cannot end as 'running'; use one of: success, failed, cancelled, interrupted",
        ),
        ("success", None, "a successful release needs its composition; record it with the release"),
    ],
)
def test_finish_refusals(database: Database, fleet_ids, status: str, composition, message: str) -> None:
    with database.session() as session:
        made = start(session, fleet_ids[0])
        with pytest.raises(ReleaseError) as error:
            releases.finish_release(session, made.id, status, composition=composition)
    assert str(error.value) == message


def test_mark_interrupted_spares_live_leases_of_other_nodes(database: Database, fleet_ids) -> None:
    web, api = fleet_ids
    with database.session() as session:
        mine = start(session, web, node="node-a", ttl=600)  # this node's, from before its restart
        dead = start(session, api, node="node-b", ttl=0)  # node-b stopped heartbeating
        live = start(session, web, node="node-c", ttl=600)  # node-c is building right now
    with database.session() as session:
        ended = release_leases.mark_interrupted(
            session, node_id="node-a", now=utcnow() + timedelta(seconds=1)
        )
    assert sorted(r.name for r in ended) == ["alice/api#1", "alice/web#1"]
    assert {r.status for r in ended} == {"interrupted"}
    assert all(r.finished_at is not None for r in ended)
    by_name = {r.name: r for r in ended}
    assert (
        by_name["alice/api#1"].error
        == "the gateway node node-b stopped while building; push again to rebuild"
    )
    with database.session() as session:
        assert releases.find_release(session, live.name).status == "running"
        assert leases.held(session, releases.LEASE_KIND, live.hash) is not None
        assert leases.held(session, releases.LEASE_KIND, mine.hash) is None
        assert leases.held(session, releases.LEASE_KIND, dead.hash) is None
        # A sweep without a node id leaves node-c alone while its lease lives, and takes it once it lapses.
        assert release_leases.mark_interrupted(session, now=utcnow()) == []
        later = release_leases.mark_interrupted(session, now=utcnow() + timedelta(seconds=601))
    assert [r.name for r in later] == ["alice/web#2"]


def test_a_renewed_lease_is_not_interrupted(database: Database, fleet_ids) -> None:
    with database.session() as session:
        made = start(session, fleet_ids[0], node="node-b", ttl=1)
        lease = leases.held(session, releases.LEASE_KIND, made.hash)
        assert leases.heartbeat(session, lease, ttl=600) is not None
        assert release_leases.mark_interrupted(session, now=utcnow() + timedelta(seconds=5)) == []


def test_the_interrupted_builder_learns_it_lost(database: Database, fleet_ids) -> None:
    with database.session() as session:
        made = start(session, fleet_ids[0], node="node-b", ttl=0)
        lease = leases.held(session, releases.LEASE_KIND, made.hash, now=utcnow() - timedelta(seconds=5))
    with database.session() as session:
        assert [r.id for r in release_leases.mark_interrupted(session, node_id="node-a")] == [made.id]
    with database.session() as session:
        assert leases.heartbeat(session, lease, ttl=60) is None
        with pytest.raises(ReleaseError, match="is interrupted already"):
            releases.finish_release(session, made.id, "success", composition=COMPOSITION)


def test_composition_first_then_success(database: Database, fleet_ids) -> None:
    with database.session() as session:
        made = start(session, fleet_ids[0])
        assert releases.set_composition(session, made.id, COMPOSITION).composition == COMPOSITION
        assert releases.finish_release(session, made.id, "success").composition == COMPOSITION
        with pytest.raises(ReleaseError) as error:
            releases.set_composition(session, made.id, "x")
    assert str(error.value) == "release alice/web#1 is success; only a running release changes"


def test_heartbeat_keeps_a_long_build_alive(database: Database, fleet_ids) -> None:
    with database.session() as session:
        made = start(session, fleet_ids[0], node="node-b", ttl=30)
        later = utcnow() + timedelta(seconds=25)
        assert release_leases.heartbeat(session, made, ttl=30, now=later) is True
        assert release_leases.mark_interrupted(session, now=later + timedelta(seconds=20)) == []
        assert release_leases.mark_interrupted(session, now=later + timedelta(seconds=31)) != []
        assert release_leases.heartbeat(session, made, ttl=30) is False


def test_list_and_latest_success(database: Database, fleet_ids) -> None:
    web, api = fleet_ids
    with database.session() as session:
        assert releases.latest_success(session, web) is None
        ids = [start(session, web).id for _ in range(4)]
        start(session, api)
        releases.finish_release(session, ids[0], "success", composition=COMPOSITION)
        releases.finish_release(session, ids[1], "success", composition=COMPOSITION)
        releases.finish_release(session, ids[2], "failed", error="boom")
    with database.session(readonly=True) as session:
        assert [r.number for r in releases.list_releases(session, web)] == [4, 3, 2, 1]
        assert [r.number for r in releases.list_releases(session, web, "success")] == [2, 1]
        assert [r.number for r in releases.list_releases(session, web, "running")] == [4]
        assert releases.latest_success(session, web).number == 2
        with pytest.raises(ReleaseError) as error:
            releases.list_releases(session, web, "done")
    assert str(error.value) == (
        "unknown release status 'done'; use one of: running, success, failed, cancelled, interrupted"
    )


def test_find_release(database: Database, fleet_ids) -> None:
    web, api = fleet_ids
    with database.session() as session:
        one, two = start(session, web), start(session, web)
        three = start(session, api)
    set_hash(database, one.id, "abcd1111" + "0" * 24)
    set_hash(database, two.id, "abcd2222" + "0" * 24)
    set_hash(database, three.id, "abce3333" + "0" * 24)
    with database.session(readonly=True) as session:
        assert releases.find_release(session, "alice/web#2").id == two.id
        assert releases.find_release(session, "abcd1111" + "0" * 24).id == one.id
        assert releases.find_release(session, "abcd2").id == two.id
        assert releases.find_release(session, "ABCE").id == three.id


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "abcd",
            "hash prefix abcd matches several releases (alice/web#1, alice/web#2); give more characters",
        ),
        (
            "abc",
            "'abc' is not a release; name a release as OWNER/NAME#N, by its hash, or by at least 4 "
            "leading characters of it",
        ),
        (
            "abcd%",
            "'abcd%' is not a release; name a release as OWNER/NAME#N, by its hash, or by at least 4 "
            "leading characters of it",
        ),
        ("ffff", "no release has a hash starting ffff; see: fleetgate release list OWNER/NAME"),
        ("alice/web#9", "alice/web has no release #9; see: fleetgate release list alice/web"),
        ("alice/nope#1", "no fleet alice/nope; see: fleetgate fleet list"),
        (
            "Alice/web#1",
            "invalid owner name 'Alice': use 1-39 lower-case letters, digits and '-', not starting with '-'",
        ),
        (
            "alice/web#",
            "'alice/web#' is not a release; name a release as OWNER/NAME#N, by its hash, or by at "
            "least 4 leading characters of it",
        ),
    ],
)
def test_find_release_refusals(database: Database, fleet_ids, spec: str, message: str) -> None:
    with database.session() as session:
        one, two = start(session, fleet_ids[0]), start(session, fleet_ids[0])
    set_hash(database, one.id, "abcd1111" + "0" * 24)
    set_hash(database, two.id, "abcd2222" + "0" * 24)
    with database.session(readonly=True) as session, pytest.raises(ReleaseError) as error:
        releases.find_release(session, spec)
    assert str(error.value) == message


def test_removing_a_fleet_removes_its_releases_and_images(database: Database, fleet_ids) -> None:
    web, api = fleet_ids
    with database.session() as session:
        made = start(session, web)
        release_images.record_image(session, made.id, "main", "i", None, None, None, "log", "building")
        kept = start(session, api)
    with database.session() as session:
        fleets.remove_fleet(session, "alice", "web")
    with database.session(readonly=True) as session:
        assert session.scalars(select(models.Release.id)).all() == [kept.id]
        assert session.scalars(select(models.ReleaseImage.id)).all() == []
