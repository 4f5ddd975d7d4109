"""A release's build log as server-sent events: each line as written, then the release's final status.

The log is read by the application layer's `build_log(follow=True)` (blocking: it polls the live log
file), in a thread of a bounded pool, and handed to the event loop through a queue. A viewer who leaves
stops that thread within a poll. Events: `line` (one log line, as text), `status` (the build ended).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from fleetgate.operations import releases as release_ops
from fleetgate.operations.actor import Actor
from fleetgate.operations.scope import Context

log = logging.getLogger("fleetgate.web")
KEEPALIVE = 15.0  # seconds of silence before a comment line: proxies close quiet connections
NOT_YET_LIVE = 0.5  # seconds between looks for a build that has not opened its live log yet
FOLLOWERS = anyio.CapacityLimiter(32)  # threads that follow logs, beside the pool the pages use


@dataclass(frozen=True)
class Ended:
    """The build ended (or following it failed): the release's status now."""

    status: str


def sse_event(name: str, data: str) -> str:
    """One event in the text/event-stream format; control characters (a CR ends an SSE line) go."""
    clean = "".join(c for c in data if c.isprintable() or c == "\t")
    return f"event: {name}\ndata: {clean}\n\n"


def _follow(ctx: Context, actor: Actor, spec: str, push, stop: threading.Event) -> None:
    """Push every line of the build log to the loop, then its end; runs in a thread."""
    sent = 0
    try:
        while not stop.is_set():
            lines = release_ops.build_log(ctx, actor, spec, follow=True, stopped=stop.is_set)
            for seen, line in enumerate(lines, start=1):
                if seen > sent:  # a second pass (the live log was not there yet) repeats nothing
                    push(line)
                    sent = seen
            status = release_ops.show_release(ctx, actor, spec).release.status
            if status != "running":
                push(Ended(status))
                return
            time.sleep(NOT_YET_LIVE)
    except Exception:
        log.exception("following the build log of %s for %s failed", spec, actor)
        push(Ended("unknown"))


async def build_log_events(ctx: Context, actor: Actor, spec: str) -> AsyncIterator[str]:
    """The events of the release's build log until its build ends (or the viewer leaves)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | Ended] = asyncio.Queue()
    stop = threading.Event()

    def push(item: str | Ended) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    follower = asyncio.ensure_future(
        anyio.to_thread.run_sync(_follow, ctx, actor, spec, push, stop, limiter=FOLLOWERS)
    )
    try:
        yield "retry: 2000\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            if isinstance(item, Ended):
                yield sse_event("status", item.status)
                return
            yield sse_event("line", item)
    finally:
        stop.set()  # the thread sees it within a poll and ends; nothing waits for it here
        follower.add_done_callback(lambda task: task.cancelled() or task.exception())
