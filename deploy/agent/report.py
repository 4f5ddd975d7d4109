"""Report: the body of the agent's PATCH /v1/device/state, from the plan and what Docker shows.

Pure, so what a device says about itself is a table test: `idle` when nothing is left to do,
`update locked` while a lock holds the swap, `downloading` while the next step is a pull, `installing`
for any other step (hand-overs included), `error` after a step failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..device_state import CurrentState, TargetState
from .steps import HANDING_OVER, LOCKED, Fetch, Step, Wait


def device_status(plan: Sequence[Step], error: str | None) -> str:
    """The device's status word."""
    if error:
        return "error"
    if not plan:
        return "idle"
    first = plan[0]
    if isinstance(first, Wait) and first.reason == LOCKED:
        return LOCKED
    return "downloading" if isinstance(first, Fetch) else "installing"


def _service(
    name: str,
    plan: Sequence[Step],
    current: CurrentState,
    target: TargetState,
    running: str | None,
    progress: Mapping[str, int],
) -> dict[str, Any]:
    service = target.service(name)
    wanted = f"{name}_{target.short_release}"
    new = next(
        (
            c
            for c in current.containers
            if c.name == wanted and service and c.config_hash == service.config_hash
        ),
        None,
    )
    handing_over = any(isinstance(s, Wait) and s.reason == HANDING_OVER and name in s.services for s in plan)
    if new is not None and new.status != "created":
        status = HANDING_OVER if handing_over else new.status
        return {"status": status, "release": target.release, "progress": None}
    if any(isinstance(s, Fetch) and s.service == name for s in plan):
        return {"status": "downloading", "release": running, "progress": progress.get(name, 0)}
    old = next((c for c in current.containers if c.service == name), None)
    if old is not None and old.status == "running":
        return {"status": "running", "release": running, "progress": None}
    return {"status": "installing", "release": running, "progress": None}


def device_report(
    plan: Sequence[Step],
    current: CurrentState,
    target: TargetState,
    running: str | None,
    progress: Mapping[str, int],
    error: str | None = None,
) -> dict[str, Any]:
    """The PATCH body; `running` is the release the device last finished installing."""
    status = device_status(plan, error)
    fetching = next((s.service for s in plan if isinstance(s, Fetch)), None)
    return {
        "status": status,
        "release": target.release if not plan else running,
        "progress": progress.get(fetching, 0) if status == "downloading" and fetching else None,
        "message": error,
        "services": {
            s.name: _service(s.name, plan, current, target, running, progress) for s in target.services
        },
    }
