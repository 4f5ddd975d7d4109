"""One push at the SSH edge: hold the fleet, receive it in the pool, and log how it ended (gitd/audit.py)."""

from __future__ import annotations

import time
from pathlib import Path

from dulwich.protocol import pkt_line

from fleetgate.fleets import Fleet

from . import audit
from .gateway import CLOSING, Gateway
from .pipeline import Pusher
from .queue import Closed, Superseded, WaitTimeout
from .receive import ReceiveContext, Received, ReceiveSession
from .sessions import Running
from .worker import in_worker


async def receive_push(
    gateway: Gateway, process, pusher: Pusher, fleet: Fleet, repo: Path, running: Running
) -> int:
    """Serve `git-receive-pack` for `pusher` into `fleet`'s repository; the session's exit status."""
    started = time.monotonic()
    status, received, refusal = await _receive(gateway, process, pusher, fleet, repo, running)
    release = await gateway.lookup(
        gateway.access.release_of_push, fleet.id, gateway.config.node_id, running.started
    )
    release_status = None if release is None else release.status
    if refusal:
        outcome, reason = "refused", refusal
    else:
        results = None if received is None else received.results
        outcome, reason = audit.push_outcome(results, received is not None and received.fault, release_status)
    audit.log_push(
        audit.PushEnd(
            outcome,
            pusher.user,
            pusher.key_fingerprint,
            fleet.slug,
            time.monotonic() - started,
            None if release is None else release.name,
            None if release is None else release.hash,
            release_status,
            reason,
        )
    )
    return status


async def _receive(
    gateway: Gateway, process, pusher: Pusher, fleet: Fleet, repo: Path, running: Running
) -> tuple[int, Received | None, str]:
    """Hold the fleet and receive the push: exit status, how it ended, why it never started."""
    limits, access = gateway.config.limits, gateway.access
    ctx = ReceiveContext(
        fleet=fleet,
        pusher=pusher,
        repo_path=repo,
        limits=limits,
        pipeline=gateway.pipeline,
        still_allowed=lambda: access.still_allowed(pusher.user, pusher.key_fingerprint, fleet.id),
        unpack_pool=gateway.unpackers,
        interruption=running.interruption,
    )

    def notify(position: int) -> None:
        waiting = f"another push to {fleet.slug} is running; waiting (position {position})"
        process.stderr.write(f"fleetgate: {waiting}\n".encode())

    try:
        async with gateway.queue.hold(fleet.id, notify, limits.lock_wait_seconds):
            status, received = await in_worker(
                gateway.pool,
                process,
                running,
                lambda proto, bridge, cancelled: ReceiveSession(
                    ctx, proto, bridge.write_stderr, cancelled
                ).run(),
            )
            return status, received, ""
    except Superseded:
        refusal = f"superseded by a newer push to {fleet.slug}"
    except WaitTimeout:
        refusal = (
            f"gave up after waiting {limits.lock_wait_seconds:.0f} s for another push to {fleet.slug}; "
            "push again later"
        )
    except Closed:
        refusal = CLOSING
    process.stdout.write(pkt_line(f"ERR {refusal}".encode()))
    return 1, None, refusal
