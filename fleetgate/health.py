"""What `GET /healthz` answers: one check per dependency, and the verdict over them (pure).

200 while every dependency the gateway cannot work without is up; 503 naming the ones that are down.
A dependency that is not configured (no registry) is `off` and never makes the gateway unhealthy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OK, DOWN, OFF = "ok", "down", "off"


@dataclass(frozen=True)
class Check:
    """One dependency as seen now: ok, down or off; whether serving needs it; what was seen, in words."""

    name: str
    status: str
    required: bool
    detail: str
    facts: Mapping[str, Any] = field(default_factory=dict)  # figures for machines (free bytes, …)


def verdict(checks: Sequence[Check]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the JSON body for these checks."""
    down = [c.name for c in checks if c.required and c.status == DOWN]
    body = {
        "status": DOWN if down else OK,
        "down": down,
        "checks": {c.name: {**_fields(c), **c.facts} for c in checks},
    }
    return (503 if down else 200), body


def _fields(check: Check) -> dict[str, Any]:
    return {"status": check.status, "required": check.required, "detail": check.detail}


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def disk(name: str, path: str, free: int, total: int, minimum: int, writable: bool) -> Check:
    """The repositories' disk: down when it is not writable or has less than `minimum` bytes free."""
    facts = {"path": path, "free_bytes": free, "total_bytes": total, "min_free_bytes": minimum}
    seen = f"{_size(free)} free of {_size(total)} at {path}"
    if not writable:
        return Check(name, DOWN, True, f"{path} is not writable by the gateway", facts)
    if free < minimum:
        return Check(
            name, DOWN, True, f"{seen}, below FLEETGATE_MIN_FREE_BYTES ({_size(minimum)}); free some", facts
        )
    return Check(name, OK, True, seen, facts)
