"""The seam between gitd and the receive pipeline (DESIGN.md §2.3): what a push hands over, what comes back.

gitd calls one `Pipeline` per push, in a worker thread, after the pack is received and checked and
before any ref moves. The pipeline answers a `Verdict` per ref update and may stream lines to the
pusher while it works; gitd sends keepalives while it is silent and sets `cancelled` when the client
goes away.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fleetgate.fleets import Fleet

ZERO_SHA = b"0" * 40


@dataclass(frozen=True)
class RefUpdate:
    """One `old new ref` command line of a push; shas are 40 hex bytes, ZERO_SHA for none."""

    ref: bytes
    old: bytes
    new: bytes

    @property
    def is_delete(self) -> bool:
        return self.new == ZERO_SHA


@dataclass(frozen=True)
class Pusher:
    """Who pushed: the owner of the key that signed, and that key's fingerprint."""

    user: str
    key_fingerprint: str


class Progress(Protocol):
    """Writes lines to the pusher's terminal (side-band 2, shown as `remote: …`)."""

    def line(self, text: str) -> None: ...


@dataclass(frozen=True)
class Push:
    """A received, checked push waiting for the pipeline's verdicts."""

    fleet: Fleet
    pusher: Pusher
    updates: tuple[RefUpdate, ...]
    options: tuple[str, ...]
    # A dulwich object store that sees the quarantined objects and the fleet's repository.
    objects: object
    # The fleet's refs as they were advertised to this push (ref -> sha), under the fleet lock.
    refs: dict[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The pipeline's answer for one ref update.

    `store_as` names the ref that actually moves (a virtual branch like `balena-nocache` moves
    `refs/heads/master`); None means the pushed ref itself. `reason` is shown to the pusher on a
    rejection as `! [remote rejected] <ref> (<reason>)`.
    """

    ref: bytes
    ok: bool
    reason: str = ""
    store_as: bytes | None = None

    @staticmethod
    def accept(ref: bytes, store_as: bytes | None = None) -> Verdict:
        return Verdict(ref=ref, ok=True, store_as=store_as)

    @staticmethod
    def reject(ref: bytes, reason: str) -> Verdict:
        return Verdict(ref=ref, ok=False, reason=reason)


@dataclass(frozen=True)
class RefResult:
    """What happened to a ref after the verdicts: moved, or not and why."""

    ref: bytes
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    """The verdicts, and a callback run after the refs moved (to record the release in one transaction)."""

    verdicts: tuple[Verdict, ...]
    after_update: Callable[[Sequence[RefResult]], None] | None = None


class Pipeline(Protocol):
    """Decides a push. Runs in a worker thread; must return promptly once `cancelled` is set."""

    def __call__(self, push: Push, progress: Progress, cancelled: threading.Event) -> Decision: ...
