"""Roles: which compose services a server runs (issue 5, README "Servers").

A service names its roles with the label `io.fleetgate.role` (one role or several, separated by commas:
`io.fleetgate.role: web` or `"web,worker"`). A server with a role runs the services that carry that role
and the services that carry no role label; a server without a role runs every service. The policy is data
in this one module (DESIGN.md §6.4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ROLE_LABEL = "io.fleetgate.role"
ROLE = re.compile(r"[a-z][a-z0-9-]{0,30}")


class RoleError(ValueError):
    """A role name or a service's role label is invalid; the message says what to do."""


def check_role(role: str) -> str:
    """`role` if it is a role name: lower-case letters, digits and '-', starting with a letter."""
    if not ROLE.fullmatch(role):
        raise RoleError(
            f"invalid role {role!r}: use lower-case letters, digits and '-', starting with a letter, e.g. web"
        )
    return role


def labels_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's labels as a mapping, whether compose wrote them as a mapping or a list."""
    labels = service.get("labels") or {}
    if isinstance(labels, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in labels.items()}
    return {key: value for key, _, value in (str(item).partition("=") for item in labels)}


def roles_of(name: str, service: Mapping[str, Any]) -> frozenset[str]:
    """The roles a service declares (empty: it runs on every server)."""
    raw = labels_of(service).get(ROLE_LABEL)
    if raw is None:
        return frozenset()
    roles = frozenset(part.strip() for part in raw.split(",") if part.strip())
    for role in roles:
        if not ROLE.fullmatch(role):
            raise RoleError(
                f"service {name}: {ROLE_LABEL} {raw!r} is not a list of roles "
                "(lower-case letters, digits and '-', separated by commas)"
            )
    return roles


def services_for(role: str | None, services: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The names of the services a server with `role` runs, in the composition's order."""
    if role is None:
        return tuple(services)
    return tuple(
        name for name, body in services.items() if not roles_of(name, body) or role in roles_of(name, body)
    )
