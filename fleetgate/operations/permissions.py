"""Who may do what: one table of operation × role (DESIGN.md §9), and the check every operation makes."""

from __future__ import annotations

OPERATOR, OWNER, MEMBER, STRANGER = "operator", "owner", "member", "stranger"
ROLES = (OPERATOR, OWNER, MEMBER, STRANGER)

_READERS = frozenset({OPERATOR, OWNER, MEMBER})
_OWNERS = frozenset({OPERATOR, OWNER})
_ONLY_OPERATOR = frozenset({OPERATOR})
_ANYONE = frozenset(ROLES)

# Operation -> the roles that may run it. Fleet-scoped operations name the actor's role on that fleet;
# `fleet.list`, `key.*` and `token.*` act on the actor's own things, so every role may run them.
PERMISSIONS: dict[str, frozenset[str]] = {
    "fleet.list": _ANYONE,
    "fleet.show": _READERS,
    "fleet.create": _ONLY_OPERATOR,
    "fleet.remove": _ONLY_OPERATOR,
    "fleet.set": _OWNERS,
    "member.list": _READERS,
    "member.add": _OWNERS,
    "member.remove": _OWNERS,
    "release.list": _READERS,
    "release.show": _READERS,
    "release.logs": _READERS,
    "rollback": _READERS,
    "pin": _READERS,
    "deploy": _OWNERS,
    "env.list": _READERS,
    "env.set": _OWNERS,
    "env.unset": _OWNERS,
    "device.list": _READERS,
    "device.pin": _READERS,
    "device.remove": _OWNERS,
    "device.lock_override": _OWNERS,
    "provisioning_key": _OWNERS,
    "server.list": _READERS,
    "server.status": _READERS,
    "server.add": _ONLY_OPERATOR,  # server access is the operator's configuration (DESIGN.md §2.5)
    "server.remove": _ONLY_OPERATOR,
    "server.proxy": _ONLY_OPERATOR,
    "server.unlock": _ONLY_OPERATOR,
    "server.trust": _ONLY_OPERATOR,
    "prune": _ONLY_OPERATOR,  # every fleet's servers, the registry and the build daemons at once
    "user.list": _ONLY_OPERATOR,
    "user.add": _ONLY_OPERATOR,
    "user.remove": _ONLY_OPERATOR,
    "key.list": _ANYONE,
    "key.add": _ANYONE,
    "key.remove": _ANYONE,
    "token.list": _ANYONE,
    "token.create": _ANYONE,
    "token.revoke": _ANYONE,
}

# What a read-only token may still do: nothing that changes state.
READS = frozenset(
    {
        "fleet.list",
        "fleet.show",
        "member.list",
        "release.list",
        "release.show",
        "release.logs",
        "env.list",
        "device.list",
        "server.list",
        "server.status",
        "key.list",
        "token.list",
    }
)


class AccessDenied(ValueError):
    """The actor may not do this; the message says so without revealing what it cannot see."""


class NotVisible(AccessDenied):
    """What the actor may not see, answered exactly as if it did not exist (no existence oracle)."""


def not_found(slug: str) -> NotVisible:
    """The one answer for a fleet that does not exist and one the actor may not see (no oracle)."""
    return NotVisible(f"fleet {slug} not found, or you do not have access to it; ask its owner to add you")


def decide(operation: str, role: str, read_only: bool = False) -> str:
    """`allowed`, `hidden` (answer as if the fleet did not exist), `forbidden` or `read-only`."""
    allowed = PERMISSIONS[operation]
    if role not in allowed:
        return "hidden" if role == STRANGER else "forbidden"
    if read_only and operation not in READS:
        return "read-only"
    return "allowed"


def check_operator(operation: str, role: str) -> None:
    """Raise AccessDenied unless the operator runs `operation` (one that concerns no single fleet)."""
    if decide(operation, role) != "allowed":
        raise AccessDenied(f"only the operator may run {operation.replace('.', ' ')}")


def check(operation: str, role: str, slug: str, read_only: bool = False) -> None:
    """Raise AccessDenied unless `role` may run `operation` on the fleet `slug`."""
    verdict = decide(operation, role, read_only)
    if verdict == "hidden":
        raise not_found(slug)
    if verdict == "forbidden":
        who = "the operator" if PERMISSIONS[operation] == _ONLY_OPERATOR else f"the owner of {slug}"
        raise AccessDenied(f"only {who} may run {operation.replace('.', ' ')} on {slug}")
    if verdict == "read-only":
        raise AccessDenied(f"{operation.replace('.', ' ')} changes {slug}, and this token is read-only")
