"""The permission table (fleetgate.operations.permissions) as a table of exact outcomes (DESIGN.md §9)."""

from __future__ import annotations

import pytest

from fleetgate.operations.permissions import PERMISSIONS, ROLES, AccessDenied, check, decide, not_found

A, H, F = "allowed", "hidden", "forbidden"

# Operation -> decide() for (operator, owner, member, stranger), written out from the policy, not from
# PERMISSIONS: the operator does everything; an owner everything on the fleet but create and remove it
# (and what is the operator's configuration: servers and users); a
# member reads, rolls back and pins; a stranger is answered as if the fleet did not exist. Keys, tokens and
# the fleet list are the actor's own things, so every role may use them.
EXPECTED: dict[str, tuple[str, str, str, str]] = {
    "fleet.list": (A, A, A, A),
    "fleet.show": (A, A, A, H),
    "fleet.create": (A, F, F, H),
    "fleet.remove": (A, F, F, H),
    "fleet.set": (A, A, F, H),
    "member.list": (A, A, A, H),
    "member.add": (A, A, F, H),
    "member.remove": (A, A, F, H),
    "release.list": (A, A, A, H),
    "release.show": (A, A, A, H),
    "release.logs": (A, A, A, H),
    "rollback": (A, A, A, H),
    "pin": (A, A, A, H),
    "deploy": (A, A, F, H),
    "env.list": (A, A, A, H),
    "env.set": (A, A, F, H),
    "env.unset": (A, A, F, H),
    "device.list": (A, A, A, H),
    "device.pin": (A, A, A, H),
    "device.remove": (A, A, F, H),
    "device.lock_override": (A, A, F, H),
    "provisioning_key": (A, A, F, H),
    "server.list": (A, A, A, H),
    "server.status": (A, A, A, H),
    "server.add": (A, F, F, H),
    "server.remove": (A, F, F, H),
    "server.proxy": (A, F, F, H),
    "server.unlock": (A, F, F, H),
    "server.trust": (A, F, F, H),
    "prune": (A, F, F, H),
    "user.list": (A, F, F, H),
    "user.add": (A, F, F, H),
    "user.remove": (A, F, F, H),
    "key.list": (A, A, A, A),
    "key.add": (A, A, A, A),
    "key.remove": (A, A, A, A),
    "token.list": (A, A, A, A),
    "token.create": (A, A, A, A),
    "token.revoke": (A, A, A, A),
}

# decide(operation, "owner", read_only=True): reads stay allowed, every change is refused as read-only;
# what the owner may not do at all (create or remove a fleet) stays forbidden.
READ_ONLY_OWNER: dict[str, str] = {
    "fleet.list": A,
    "fleet.show": A,
    "fleet.create": F,
    "fleet.remove": F,
    "fleet.set": "read-only",
    "member.list": A,
    "member.add": "read-only",
    "member.remove": "read-only",
    "release.list": A,
    "release.show": A,
    "release.logs": A,
    "rollback": "read-only",
    "pin": "read-only",
    "deploy": "read-only",
    "env.list": A,
    "env.set": "read-only",
    "env.unset": "read-only",
    "device.list": A,
    "device.pin": "read-only",
    "device.remove": "read-only",
    "device.lock_override": "read-only",
    "provisioning_key": "read-only",
    "server.list": A,
    "server.status": A,
    "server.add": F,
    "server.remove": F,
    "server.proxy": F,
    "server.unlock": F,
    "server.trust": F,
    "prune": F,
    "user.list": F,
    "user.add": F,
    "user.remove": F,
    "key.list": A,
    "key.add": "read-only",
    "key.remove": "read-only",
    "token.list": A,
    "token.create": "read-only",
    "token.revoke": "read-only",
}

HIDDEN = "fleet {slug} not found, or you do not have access to it; ask its owner to add you"
CELLS = [(op, role, EXPECTED[op][i]) for op in EXPECTED for i, role in enumerate(ROLES)]


def test_the_table_names_every_operation_and_the_four_roles() -> None:
    assert ROLES == ("operator", "owner", "member", "stranger")
    assert sorted(PERMISSIONS) == sorted(EXPECTED) == sorted(READ_ONLY_OWNER)


@pytest.mark.parametrize(("operation", "role", "expected"), CELLS)
def test_decide(operation: str, role: str, expected: str) -> None:
    assert decide(operation, role) == expected


@pytest.mark.parametrize(("operation", "expected"), sorted(READ_ONLY_OWNER.items()))
def test_decide_for_a_read_only_owner(operation: str, expected: str) -> None:
    assert decide(operation, "owner", read_only=True) == expected


@pytest.mark.parametrize(("operation", "role", "expected"), CELLS)
def test_read_only_never_lets_through_what_the_role_may_not_do(
    operation: str, role: str, expected: str
) -> None:
    # A read-only token narrows a role; it never widens it, and never turns "hidden" into a telling answer.
    assert decide(operation, role, read_only=True) in ((expected,) if expected != A else (A, "read-only"))


@pytest.mark.parametrize("operation", sorted(op for op, row in EXPECTED.items() if row[3] == H))
def test_a_stranger_hears_the_same_for_an_existing_and_a_missing_fleet(operation: str) -> None:
    answers = []
    for slug in ("alice/demo", "alice/missing"):
        with pytest.raises(AccessDenied) as refused:
            check(operation, "stranger", slug)
        answers.append(str(refused.value).replace(slug, "{slug}"))
    assert answers == [HIDDEN, HIDDEN]
    assert str(not_found("alice/demo")) == HIDDEN.format(slug="alice/demo")


@pytest.mark.parametrize(
    ("operation", "role", "read_only", "message"),
    [
        ("env.set", "member", False, "only the owner of alice/demo may run env set on alice/demo"),
        ("env.unset", "member", False, "only the owner of alice/demo may run env unset on alice/demo"),
        ("member.add", "member", False, "only the owner of alice/demo may run member add on alice/demo"),
        ("deploy", "member", False, "only the owner of alice/demo may run deploy on alice/demo"),
        ("fleet.remove", "owner", False, "only the operator may run fleet remove on alice/demo"),
        ("fleet.create", "member", False, "only the operator may run fleet create on alice/demo"),
        ("env.set", "owner", True, "env set changes alice/demo, and this token is read-only"),
        ("rollback", "member", True, "rollback changes alice/demo, and this token is read-only"),
        ("pin", "operator", True, "pin changes alice/demo, and this token is read-only"),
    ],
)
def test_check_says_who_may(operation: str, role: str, read_only: bool, message: str) -> None:
    with pytest.raises(AccessDenied) as refused:
        check(operation, role, "alice/demo", read_only)
    assert str(refused.value) == message


@pytest.mark.parametrize(("operation", "role", "expected"), [c for c in CELLS if c[2] == A])
def test_check_lets_through_what_is_allowed(operation: str, role: str, expected: str) -> None:
    assert check(operation, role, "alice/demo") is None
