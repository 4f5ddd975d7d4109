"""The operator's record of the SSH edge: each push, fetch, command and failed login, one line each.

Lines are logged by the logger named `fleetgate`, so a text line reads `… WARNING fleetgate: failed login
for git from 192.0.2.7 port 50022 key SHA256:…`, a shape fail2ban's filter (README) matches. Every field a
client chooses is escaped by the log format; the login name is also cut to a safe alphabet here, since it
stands in front of the address a filter reads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from fleetgate.log_lines import fields

from .pipeline import RefResult

log = logging.getLogger("fleetgate")
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def _login(name: str) -> str:
    return _UNSAFE.sub("?", name)[:64] or "?"


@dataclass(frozen=True)
class PushEnd:
    """How one push ended: accepted, refused (nothing was built), failed or unchanged (no ref to update)."""

    outcome: str
    user: str
    key: str
    fleet: str
    seconds: float
    release: str | None = None  # OWNER/NAME#N
    release_hash: str | None = None
    release_status: str | None = None
    reason: str = ""

    def message(self) -> str:
        """The line in words."""
        built = f" release {self.release} ({self.release_status})" if self.release else ""
        why = f": {self.reason}" if self.reason else ""
        return (
            f"push {self.outcome}: {self.fleet} by {self.user} key {self.key}{built} "
            f"in {self.seconds:.1f} s{why}"
        )


def push_outcome(
    results: Sequence[RefResult] | None, fault: bool, release_status: str | None
) -> tuple[str, str]:
    """(outcome, reason) from the refs' results (None: the client went away first), whether fleetgate was
    at fault, and the status of the release the push started (None: it started none)."""
    failed = [r for r in results or () if not r.ok]
    reason = failed[0].reason if failed else ("the client went away" if results is None else "")
    if release_status == "success" or (results and not failed):
        return "accepted", ""
    if results == ():
        return "unchanged", ""
    if fault or release_status is not None or results is None:
        return "failed", reason
    return "refused", reason


def log_push(end: PushEnd) -> None:
    """One line for the push: INFO when accepted or unchanged, WARNING otherwise."""
    level = logging.INFO if end.outcome in ("accepted", "unchanged") else logging.WARNING
    log.log(
        level,
        end.message(),
        extra=fields(
            event="push",
            outcome=end.outcome,
            user=end.user,
            key=end.key,
            fleet=end.fleet,
            release=end.release,
            release_hash=end.release_hash,
            release_status=end.release_status,
            duration=round(end.seconds, 3),
            reason=end.reason or None,
        ),
    )


def log_session(kind: str, user: str, key: str, what: str, status: int | str, seconds: float) -> None:
    """One line for a fetch or a user command: who ran what, its exit status (or refusal) and duration."""
    log.info(
        f"{kind} by {user} key {key}: {what}: exit {status} in {seconds:.2f} s",
        extra=fields(event=kind, user=user, key=key, command=what, status=status, duration=round(seconds, 3)),
    )


def log_failed_login(login: str, address: str, port: int, key: str | None, keys_tried: int) -> None:
    """The fail2ban line: a connection that ended without a login."""
    shown = key or "none"
    log.warning(
        f"failed login for {_login(login)} from {address} port {port} key {shown}",
        extra=fields(
            event="failed_login", login=login, address=address, port=port, key=key, keys_tried=keys_tried
        ),
    )
