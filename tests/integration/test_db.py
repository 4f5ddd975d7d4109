"""The shared domain against real databases: SQLite and PostgreSQL (DESIGN.md §5, §8)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from fleetgate import fleets, keys, leases, users
from fleetgate.asyncssh_import import asyncssh
from fleetgate.db import HEAD, MIGRATIONS, Database
from fleetgate.models import Base

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def public_line(comment: str = "me@laptop") -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return key.export_public_key().decode()


def test_migrate_is_idempotent_and_matches_the_models(database: Database) -> None:
    database.migrate()
    assert database.revision() == "0009"
    with database.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_head_is_alembics_newest_revision() -> None:
    # migrate() skips alembic for a database at HEAD: a new migration must move HEAD too.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_a_database_behind_head_is_migrated_to_it(database: Database) -> None:
    database.migrate()
    with database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0008'")
        conn.exec_driver_sql("DROP TABLE login_links")
        conn.exec_driver_sql("ALTER TABLE access_tokens DROP COLUMN kind")
    database.migrate()  # not at HEAD: alembic runs 0009 again
    assert database.revision() == HEAD
    with database.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_sqlite_pragmas(tmp_path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    database.migrate()  # turns foreign keys off while it runs: they must be back on afterwards
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    database.dispose()


def test_plain_postgresql_url_means_psycopg() -> None:
    assert Database("postgresql://u@h/db").url.drivername == "postgresql+psycopg"


def test_session_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        users.add_user(session, "alice")
        raise RuntimeError("boom")
    with database.session(readonly=True) as session:
        assert users.list_users(session) == []


def test_users(database: Database) -> None:
    with database.session() as session:
        users.add_user(session, "bob")
        users.add_user(session, "alice")
    with database.session() as session:
        assert [u.name for u in users.list_users(session)] == ["alice", "bob"]
        assert users.user_exists(session, "alice") is True
        users.remove_user(session, "alice")
        assert users.user_exists(session, "alice") is False


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "Alice",
            "invalid user name 'Alice': use 1-39 lower-case letters, digits and '-', not starting with '-'",
        ),
        ("-x", "invalid user name '-x': use 1-39 lower-case letters, digits and '-', not starting with '-'"),
        (
            "a" * 40,
            f"invalid user name '{'a' * 40}': use 1-39 lower-case letters, digits and '-', "
            "not starting with '-'",
        ),
        ("git", "'git' is reserved (it is the SSH login name); choose another user name"),
        ("taken", "user 'taken' already exists"),
    ],
)
def test_user_errors(database: Database, name: str, message: str) -> None:
    with database.session() as session:
        users.add_user(session, "taken")
        with pytest.raises(users.UserError) as error:
            users.add_user(session, name)
    assert str(error.value) == message


def test_keys_belong_to_one_user_and_go_with_them(database: Database) -> None:
    line = public_line()
    with database.session() as session:
        users.add_user(session, "alice")
        users.add_user(session, "bob")
        (added,) = keys.add_keys(session, "alice", line, None)
    with database.session() as session:
        assert keys.find_key_owner(session, added.fingerprint) == "alice"
        (stored,) = keys.list_keys(session, "alice")
        assert (stored.fingerprint, stored.type, stored.bits, stored.title) == (
            added.fingerprint,
            "ssh-ed25519",
            256,
            "me@laptop",
        )
        with pytest.raises(keys.PublicKeyError, match="already registered"):
            keys.add_keys(session, "bob", line, "t")
    with database.session() as session:
        users.remove_user(session, "alice")
        assert keys.find_key_owner(session, added.fingerprint) is None


def test_remove_key(database: Database) -> None:
    with database.session() as session:
        users.add_user(session, "alice")
        (added,) = keys.add_keys(session, "alice", public_line(), "work")
        with pytest.raises(keys.PublicKeyError) as error:
            keys.remove_key(session, "alice", "SHA256:nope")
        assert str(error.value) == "user 'alice' has no key SHA256:nope; see: fleetgate key list alice"
        keys.remove_key(session, "alice", added.fingerprint.removeprefix("SHA256:"))
        assert keys.list_keys(session, "alice") == []


def test_fleets_and_members(database: Database) -> None:
    with database.session() as session:
        for name in ("alice", "bob", "carol"):
            users.add_user(session, name)
        fleet = fleets.create_fleet(session, "alice", "app", "raspberrypi4-64")
        fleets.add_member(session, "alice", "app", "bob")
    with database.session(readonly=True) as session:
        assert fleets.get_fleet(session, "alice", "app") == fleet
        assert fleets.fleet_by_id(session, fleet.id) == fleet
        assert fleets.list_members(session, fleet.id) == ["bob"]
        assert [f.slug for f in fleets.list_fleets(session, "bob")] == ["alice/app"]
        assert fleets.list_fleets(session, "carol") == []
        assert [fleets.may_push(session, u, fleet.id) for u in ("alice", "bob", "carol", "nobody")] == [
            True,
            True,
            False,
            False,
        ]
        assert fleets.may_push(session, "alice", fleet.id + 1) is False
    with database.session() as session:
        fleets.remove_member(session, "alice", "app", "bob")
        assert fleets.may_push(session, "bob", fleet.id) is False


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s: fleets.create_fleet(s, "alice", "app", "toaster"),
            "unknown device type 'toaster'; choose one of: ",
        ),
        (lambda s: fleets.create_fleet(s, "alice", "app", "intel-nuc"), "fleet alice/app already exists"),
        (lambda s: fleets.create_fleet(s, "alice", "App", "intel-nuc"), "invalid fleet name 'App': "),
        (lambda s: fleets.create_fleet(s, "nobody", "x", "intel-nuc"), "no user 'nobody'; create it with: "),
        (lambda s: fleets.get_fleet(s, "alice", "nope"), "no fleet alice/nope; see: fleetgate fleet list"),
        (
            lambda s: fleets.add_member(s, "alice", "app", "alice"),
            "alice owns alice/app and may push to it already",
        ),
        (lambda s: fleets.remove_member(s, "alice", "app", "alice"), "alice is not a member of alice/app; "),
        (
            lambda s: users.remove_user(s, "alice"),
            "user 'alice' still owns alice/app; remove them first with: ",
        ),
    ],
)
def test_fleet_errors(database: Database, call, message: str) -> None:
    with database.session() as session:
        users.add_user(session, "alice")
        fleets.create_fleet(session, "alice", "app", "intel-nuc")
        with pytest.raises(ValueError) as error:
            call(session)
    assert str(error.value).startswith(message)


def test_fleet_ids_are_never_reused(database: Database) -> None:
    # The id names the repository on disk: a new fleet must never inherit a removed one's directory.
    with database.session() as session:
        users.add_user(session, "alice")
        first = fleets.create_fleet(session, "alice", "app", "intel-nuc")
    with database.session() as session:
        fleets.remove_fleet(session, "alice", "app")
    with database.session() as session:
        assert fleets.create_fleet(session, "alice", "app", "intel-nuc").id > first.id


def test_lease_lifecycle(database: Database) -> None:
    with database.session() as session:
        lease = leases.acquire(session, "push", "7", "node-a", ttl=30, now=T0)
        assert lease is not None
        assert (lease.node_id, lease.heartbeat, lease.expires) == ("node-a", T0, T0 + timedelta(seconds=30))
        assert leases.acquire(session, "push", "7", "node-b", ttl=30, now=T0 + timedelta(seconds=10)) is None
        assert leases.acquire(session, "build", "7", "node-b", ttl=30, now=T0) is not None
    with database.session() as session:
        beat = leases.heartbeat(session, lease, ttl=30, now=T0 + timedelta(seconds=20))
        assert beat is not None and beat.expires == T0 + timedelta(seconds=50)
        assert leases.expired(session, "push", now=T0 + timedelta(seconds=49)) == []
        assert [x.subject for x in leases.expired(session, "push", now=T0 + timedelta(seconds=50))] == ["7"]
        assert leases.held(session, "push", "7", now=T0 + timedelta(seconds=49)) == beat
    with database.session() as session:
        taken = leases.acquire(session, "push", "7", "node-b", ttl=30, now=T0 + timedelta(seconds=60))
        assert taken is not None and taken.node_id == "node-b"
        # The node that lost its lease learns so on its next heartbeat and cannot release the new holder's.
        assert leases.heartbeat(session, lease, ttl=30, now=T0 + timedelta(seconds=61)) is None
        assert leases.release(session, lease) is False
        assert leases.release(session, taken) is True
        assert leases.held(session, "push", "7", now=T0 + timedelta(seconds=61)) is None


def test_concurrent_writers_do_not_fail(database: Database) -> None:
    # Deferred SQLite transactions that upgrade to writes fail with "database is locked" at once.
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(15):
                with database.session() as session:
                    if not users.user_exists(session, f"u{n}-{i}"):
                        users.add_user(session, f"u{n}-{i}")
                    leases.acquire(session, "push", "shared", f"node-{n}", ttl=0.0)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session(readonly=True) as session:
        assert len(users.list_users(session)) == 90


def test_removing_a_user_ends_their_memberships(database: Database) -> None:
    with database.session() as session:
        users.add_user(session, "alice")
        users.add_user(session, "bob")
        fleet = fleets.create_fleet(session, "alice", "app", "intel-nuc")
        fleets.add_member(session, "alice", "app", "bob")
    with database.session() as session:
        users.remove_user(session, "bob")
    with database.session(readonly=True) as session:
        assert fleets.list_members(session, fleet.id) == []
