"""The application layer (fleetgate.operations) against real databases, SQLite and PostgreSQL (DESIGN.md §9).

The world: alice owns alice/demo, bob is its member, carol is a stranger to it, dave owns dave/secret, and
the operator sees everything. alice/demo has two successful releases; dave/secret one.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fleetgate.deploy import targets
from sqlalchemy import update

from fleetgate import fleets, keys, models, releases, tokens, users
from fleetgate.db import Database
from fleetgate.models import utcnow
from fleetgate.operations import fleets as op_fleets
from fleetgate.operations import keys as op_keys
from fleetgate.operations import releases as op_releases
from fleetgate.operations import targets as op_targets
from fleetgate.operations import tokens as op_tokens
from fleetgate.operations import variables as op_variables
from fleetgate.operations.actor import OPERATOR, Actor
from fleetgate.operations.permissions import AccessDenied
from fleetgate.operations.scope import Context
from fleetgate.settings import load

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPOSITION = "version: '2.1'\nservices:\n  main:\n    image: reg/alice/demo/main@sha256:00\n"
MADE_UP_HASH = "0123456789abcdef0123456789abcdef"
HIDDEN_FLEET = "fleet {slug} not found, or you do not have access to it; ask its owner to add you"
HIDDEN_RELEASE = "release {spec} not found, or you do not have access to it"

ALICE = Actor(user="alice", credential="key SHA256:alice")
BOB = Actor(user="bob", credential="key SHA256:bob")
CAROL = Actor(user="carol", credential="key SHA256:carol")
ALICE_READ_ONLY = Actor(user="alice", credential="token 1", read_only=True)


def quiet(line: str) -> None:
    """`say` for operations whose progress lines these tests do not read."""


@dataclass(frozen=True)
class World:
    ctx: Context
    demo: fleets.Fleet
    first: releases.Release  # alice/demo#1
    second: releases.Release  # alice/demo#2, the target
    secret: releases.Release  # dave/secret#1


def succeed(session, fleet_id: int, user: str) -> releases.Release:
    """A successful release that becomes the fleet's target, as the build pipeline records one."""
    started = releases.start_release(
        session, fleet_id, COMMIT, "refs/heads/master", (), None, user, "SHA256:x", "default",
        "linux/arm/v7", "node-a",
    )  # fmt: skip
    releases.set_composition(session, started.id, COMPOSITION)
    ended = releases.finish_release(session, started.id, "success")
    targets.on_release_success(session, ended)
    return ended


@pytest.fixture
def world(database: Database, tmp_path: Path) -> World:
    with database.session() as session:
        for name in ("alice", "bob", "carol", "dave"):
            users.add_user(session, name)
        demo = fleets.create_fleet(session, "alice", "demo", "raspberrypi3")
        fleets.add_member(session, "alice", "demo", "bob")
        dave = fleets.create_fleet(session, "dave", "secret", "raspberrypi3")
        first, second = succeed(session, demo.id, "alice"), succeed(session, demo.id, "bob")
        secret = succeed(session, dave.id, "dave")
    settings = load({"FLEETGATE_HOME": str(tmp_path / "home")})
    return World(Context(database, settings), demo, first, second, secret)


def refusal(call, *args, **kwargs) -> str:
    """The message of the AccessDenied that `call(*args, **kwargs)` raises."""
    with pytest.raises(AccessDenied) as refused:
        call(*args, **kwargs)
    return str(refused.value)


def target_of(world: World, fleet: fleets.Fleet) -> tuple[int | None, bool]:
    with world.ctx.database.session(readonly=True) as session:
        found = targets.target_of(session, fleet.id)
    return (found.release.number if found.release else None, found.pinned)


def slugs(found: list[fleets.Fleet]) -> list[str]:
    return [fleet.slug for fleet in found]


def test_each_actor_lists_the_fleets_it_may_see(world: World) -> None:
    ctx = world.ctx
    assert slugs(op_fleets.list_fleets(ctx, CAROL)) == []
    assert slugs(op_fleets.list_fleets(ctx, BOB)) == ["alice/demo"]
    assert slugs(op_fleets.list_fleets(ctx, ALICE)) == ["alice/demo"]
    assert slugs(op_fleets.list_fleets(ctx, ALICE_READ_ONLY)) == ["alice/demo"]
    assert slugs(op_fleets.list_fleets(ctx, OPERATOR)) == ["alice/demo", "dave/secret"]


def test_a_stranger_hears_the_same_for_an_existing_and_a_missing_fleet(world: World) -> None:
    ctx = world.ctx
    calls = [
        lambda slug: op_fleets.show_fleet(ctx, CAROL, slug),
        lambda slug: op_fleets.list_members(ctx, CAROL, slug),
        lambda slug: op_releases.list_releases(ctx, CAROL, slug),
        lambda slug: op_variables.list_variables(ctx, CAROL, slug),
        lambda slug: op_variables.set_variable(ctx, CAROL, slug, "A", "1"),
        lambda slug: op_targets.rollback(ctx, CAROL, slug, None, quiet),
        lambda slug: op_targets.pin(ctx, CAROL, slug, None, quiet),
        lambda slug: op_fleets.add_member(ctx, CAROL, slug, "carol"),
    ]
    for call in calls:
        existing, missing = refusal(call, "alice/demo"), refusal(call, "alice/missing")
        assert existing == HIDDEN_FLEET.format(slug="alice/demo")
        assert missing == HIDDEN_FLEET.format(slug="alice/missing")
    # A member of one fleet is a stranger to the next.
    assert refusal(op_fleets.show_fleet, ctx, BOB, "dave/secret") == HIDDEN_FLEET.format(slug="dave/secret")
    assert target_of(world, world.demo) == (2, False)
    assert op_fleets.list_members(ctx, ALICE, "alice/demo").members == ("bob",)


def test_a_member_reads_rolls_back_and_pins(world: World) -> None:
    ctx = world.ctx
    shown = op_fleets.show_fleet(ctx, BOB, "alice/demo")
    assert (shown.fleet.slug, shown.members, shown.target.release.number) == ("alice/demo", ("bob",), 2)
    assert [r.name for r in op_releases.list_releases(ctx, BOB, "alice/demo")] == [
        "alice/demo#2",
        "alice/demo#1",
    ]
    assert op_releases.list_releases(ctx, BOB, "alice/demo", "failed") == []
    by_name = op_releases.show_release(ctx, BOB, "alice/demo#1")
    by_hash = op_releases.show_release(ctx, BOB, world.first.hash[:8])
    assert by_name.release == by_hash.release == world.first
    assert by_name.images == ()
    assert list(op_releases.build_log(ctx, BOB, world.first.hash)) == []

    rolled = op_targets.rollback(ctx, BOB, "alice/demo", None, quiet)
    assert (rolled.release.number, rolled.pinned) == (1, True)
    assert target_of(world, world.demo) == (1, True)
    latest = op_targets.pin(ctx, BOB, "alice/demo", None, quiet)
    assert (latest.release.number, latest.pinned) == (2, False)
    pinned = op_targets.pin(ctx, BOB, "alice/demo", "alice/demo#1", quiet)
    assert (pinned.release.number, pinned.pinned) == (1, True)
    assert target_of(world, world.demo) == (1, True)


def test_a_member_may_not_deploy_or_manage_the_fleet(world: World) -> None:
    ctx = world.ctx
    only_owner = "only the owner of alice/demo may run {} on alice/demo"
    assert refusal(op_targets.deploy, ctx, BOB, "alice/demo", None, quiet) == only_owner.format("deploy")
    assert refusal(op_fleets.add_member, ctx, BOB, "alice/demo", "carol") == only_owner.format("member add")
    assert refusal(op_fleets.remove_member, ctx, BOB, "alice/demo", "bob") == only_owner.format(
        "member remove"
    )
    assert refusal(op_fleets.set_wait_for_devices, ctx, BOB, "alice/demo", True) == only_owner.format(
        "fleet set"
    )
    assert op_fleets.show_fleet(ctx, OPERATOR, "alice/demo").members == ("bob",)


def test_a_member_lists_env_masked_but_only_the_owner_sets_it(world: World) -> None:
    ctx = world.ctx
    op_variables.set_variable(ctx, ALICE, "alice/demo", "LEVEL", "debug")
    op_variables.set_variable(ctx, ALICE, "alice/demo", "TOKEN", "s3cret", service="main", secret=True)
    message = refusal(op_variables.set_variable, ctx, BOB, "alice/demo", "LEVEL", "info")
    assert message == "only the owner of alice/demo may run env set on alice/demo"
    message = refusal(op_variables.unset_variable, ctx, BOB, "alice/demo", "LEVEL")
    assert message == "only the owner of alice/demo may run env unset on alice/demo"
    listed = op_variables.list_variables(ctx, BOB, "alice/demo")
    assert [(v.service, v.key, v.shown, v.secret) for v in listed] == [
        (None, "LEVEL", "debug", False),
        ("main", "TOKEN", "***", True),
    ]
    op_variables.unset_variable(ctx, ALICE, "alice/demo", "LEVEL")
    assert [v.key for v in op_variables.list_variables(ctx, ALICE, "alice/demo")] == ["TOKEN"]


def test_the_owner_adds_and_removes_members(world: World) -> None:
    ctx = world.ctx
    op_fleets.add_member(ctx, ALICE, "alice/demo", "carol")
    assert slugs(op_fleets.list_fleets(ctx, CAROL)) == ["alice/demo"]
    assert op_fleets.show_fleet(ctx, CAROL, "alice/demo").members == ("bob", "carol")
    assert [r.number for r in op_releases.list_releases(ctx, CAROL, "alice/demo")] == [2, 1]
    op_fleets.remove_member(ctx, ALICE, "alice/demo", "carol")
    assert slugs(op_fleets.list_fleets(ctx, CAROL)) == []
    assert refusal(op_fleets.show_fleet, ctx, CAROL, "alice/demo") == HIDDEN_FLEET.format(slug="alice/demo")
    assert op_fleets.set_wait_for_devices(ctx, ALICE, "alice/demo", True).wait_for_devices is True


def test_a_stranger_hears_the_same_for_a_release_it_may_not_see_and_a_made_up_one(world: World) -> None:
    ctx = world.ctx
    for spec in (world.first.hash, world.first.hash[:6], MADE_UP_HASH, "alice/demo#1", "alice/demo#9"):
        assert refusal(op_releases.show_release, ctx, CAROL, spec) == HIDDEN_RELEASE.format(spec=spec)
        assert refusal(lambda s: list(op_releases.build_log(ctx, CAROL, s)), spec) == HIDDEN_RELEASE.format(
            spec=spec
        )
    # bob is a member of alice/demo, not of dave/secret.
    spec = world.secret.hash
    assert refusal(op_releases.show_release, ctx, BOB, spec) == HIDDEN_RELEASE.format(spec=spec)
    assert op_releases.show_release(ctx, OPERATOR, spec).release == world.secret


def test_a_member_cannot_learn_another_tenants_release_by_pinning_to_it(world: World) -> None:
    spec = world.secret.hash
    hidden = f"release {spec} not found in alice/demo; see: releases alice/demo"
    for call in (op_targets.pin, op_targets.rollback):
        with pytest.raises(Exception) as refused:
            call(world.ctx, BOB, "alice/demo", spec, quiet)
        assert "dave/secret" not in str(refused.value)
        assert str(refused.value) == hidden


def test_a_read_only_token_lists_but_changes_nothing(world: World) -> None:
    ctx = world.ctx
    assert op_fleets.show_fleet(ctx, ALICE_READ_ONLY, "alice/demo").fleet == world.demo
    assert len(op_releases.list_releases(ctx, ALICE_READ_ONLY, "alice/demo")) == 2
    assert op_releases.show_release(ctx, ALICE_READ_ONLY, "alice/demo#2").release == world.second
    assert op_variables.list_variables(ctx, ALICE_READ_ONLY, "alice/demo") == []
    read_only = "{} changes alice/demo, and this token is read-only"
    assert refusal(op_targets.rollback, ctx, ALICE_READ_ONLY, "alice/demo", None, quiet) == (
        read_only.format("rollback")
    )
    assert refusal(op_targets.pin, ctx, ALICE_READ_ONLY, "alice/demo", "alice/demo#1", quiet) == (
        read_only.format("pin")
    )
    assert refusal(op_variables.set_variable, ctx, ALICE_READ_ONLY, "alice/demo", "A", "1") == (
        read_only.format("env set")
    )
    assert refusal(op_fleets.add_member, ctx, ALICE_READ_ONLY, "alice/demo", "carol") == (
        read_only.format("member add")
    )
    assert refusal(op_tokens.create_token, ctx, ALICE_READ_ONLY, "more") == (
        "token create changes your account, and this token is read-only"
    )
    assert target_of(world, world.demo) == (2, False)
    assert op_tokens.list_tokens(ctx, ALICE_READ_ONLY) == []
    # A stranger with a read-only token hears "not found", not "read-only".
    carol = Actor(user="carol", credential="token 2", read_only=True)
    assert refusal(op_targets.rollback, ctx, carol, "alice/demo", None, quiet) == HIDDEN_FLEET.format(
        slug="alice/demo"
    )


@pytest.fixture
def public_keys(tmp_path: Path) -> list[str]:
    """Three OpenSSH ed25519 public key lines made by ssh-keygen."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed")
    made = []
    for n in range(3):
        path = tmp_path / f"key{n}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"k{n}", "-f", str(path)], check=True
        )
        made.append(path.with_suffix(".pub").read_text().strip())
    return made


def fingerprints(found: list[keys.StoredKey]) -> list[str]:
    return [key.fingerprint for key in found]


def test_a_user_manages_only_their_own_keys(world: World, public_keys: list[str]) -> None:
    ctx = world.ctx
    first = op_keys.add_keys(ctx, ALICE, public_keys[0])[0].fingerprint
    bobs = op_keys.add_keys(ctx, BOB, public_keys[1], title="laptop")[0].fingerprint
    assert fingerprints(op_keys.list_keys(ctx, ALICE)) == [first]
    assert [(k.user, k.title) for k in op_keys.list_keys(ctx, BOB)] == [("bob", "laptop")]
    mine_only = "you may only manage your own keys"
    assert refusal(op_keys.list_keys, ctx, ALICE, "bob") == mine_only
    assert refusal(op_keys.add_keys, ctx, ALICE, public_keys[2], None, "bob") == mine_only
    assert refusal(op_keys.remove_key, ctx, ALICE, bobs, "bob") == mine_only
    with pytest.raises(keys.PublicKeyError, match="user 'alice' has no key"):
        op_keys.remove_key(ctx, ALICE, bobs)
    assert fingerprints(op_keys.list_keys(ctx, OPERATOR, "bob")) == [bobs]

    only = "that is your only key: add another first (keys add), then remove this one"
    assert refusal(op_keys.remove_key, ctx, ALICE, first) == only
    assert refusal(op_keys.remove_key, ctx, ALICE, first.removeprefix("SHA256:")) == only
    second = op_keys.add_keys(ctx, ALICE, public_keys[2])[0].fingerprint
    assert op_keys.remove_key(ctx, ALICE, first) == "alice"
    assert fingerprints(op_keys.list_keys(ctx, ALICE)) == [second]
    assert refusal(op_keys.remove_key, ctx, ALICE, second) == only

    # The operator names the user, and may take a user's last key.
    assert refusal(op_keys.list_keys, ctx, OPERATOR) == "name the user whose keys you mean"
    assert op_keys.remove_key(ctx, OPERATOR, bobs, "bob") == "bob"
    assert op_keys.list_keys(ctx, BOB) == []


def test_tokens_are_created_listed_revoked_and_refused(world: World) -> None:
    ctx, database = world.ctx, world.ctx.database
    made, secret = op_tokens.create_token(ctx, ALICE, "ci")
    viewer, viewer_secret = op_tokens.create_token(ctx, ALICE, "viewer", read_only=True, days=30)
    assert secret.startswith("fgt_") and viewer_secret.startswith("fgt_")
    assert [(t.name, t.user, t.read_only, t.revoked) for t in op_tokens.list_tokens(ctx, ALICE)] == [
        ("ci", "alice", False, None),
        ("viewer", "alice", True, None),
    ]
    assert op_tokens.list_tokens(ctx, BOB) == []
    assert [t.name for t in op_tokens.list_tokens(ctx, OPERATOR, "alice")] == ["ci", "viewer"]
    assert refusal(op_tokens.list_tokens, ctx, BOB, "alice") == "you may only manage your own keys"
    with pytest.raises(tokens.TokenError, match=f"bob has no token {made.id}; see: token list"):
        op_tokens.revoke_token(ctx, BOB, made.id)
    for impossible in (0, -1, 10**24):  # no database column holds 10**24: refused, not a fault
        with pytest.raises(tokens.TokenError, match=f"alice has no token {impossible}; see: token list"):
            op_tokens.revoke_token(ctx, ALICE, impossible)

    with database.session() as session:
        assert tokens.authenticate(session, secret) == tokens.Bearer("alice", made.id, False, None)
        assert tokens.authenticate(session, viewer_secret) == tokens.Bearer("alice", viewer.id, True, None)
        # A device's API key is random text without the prefix; neither it nor a token's bare body passes.
        assert tokens.authenticate(session, secrets.token_urlsafe(32)) is None
        assert tokens.authenticate(session, secret.removeprefix("fgt_")) is None
        assert tokens.authenticate(session, "fgt_" + secrets.token_urlsafe(32)) is None

    # Authenticating through the layer gives the actor and records the use (at most every few minutes).
    assert op_tokens.authenticate(ctx, viewer_secret) == Actor("alice", f"token {viewer.id}", read_only=True)
    used = {t.name: t.last_used for t in op_tokens.list_tokens(ctx, ALICE)}
    assert used["ci"] is None and used["viewer"] is not None
    op_tokens.authenticate(ctx, viewer_secret)
    assert {t.name: t.last_used for t in op_tokens.list_tokens(ctx, ALICE)}["viewer"] == used["viewer"]

    revoked = op_tokens.revoke_token(ctx, ALICE, made.id)
    assert revoked.revoked is not None
    with database.session() as session:
        assert tokens.authenticate(session, secret) is None
        session.execute(
            update(models.AccessToken)
            .where(models.AccessToken.id == viewer.id)
            .values(expires=utcnow() - timedelta(seconds=1))
        )
    with database.session() as session:
        assert tokens.authenticate(session, viewer_secret) is None
    assert [t.revoked is not None for t in op_tokens.list_tokens(ctx, ALICE)] == [True, False]
