"""What every SSH connection shares: settings, lookups, the push queue, the worker pools, the sessions."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fleetgate.limits import Limits

from .access import Access
from .bridge import TextIn, TextOut
from .pipeline import Pipeline
from .queue import FleetQueue
from .sessions import Sessions
from .unpack import worker_pool

CLOSING = "the gateway is shutting down; try again in a minute"


@dataclass(frozen=True)
class GatewayConfig:
    """What the SSH edge needs to run; built by the composition root from Settings."""

    host: str
    port: int
    host_key_path: Path
    repositories: Path
    limits: Limits
    node_id: str
    public_url: str | None = None  # FLEETGATE_PUBLIC_SSH_URL: where users reach this server, for hints


class CommandRunner(typing.Protocol):
    """Runs one user command as `user` (the composition root's: gitd knows only the grammar)."""

    def __call__(
        self,
        user: str,
        fingerprint: str,
        argv: list[str],
        streams: tuple[TextIn, TextOut, TextOut],
        stopped: Callable[[], bool],
        label: str,
    ) -> int: ...


class Gateway:
    """State shared by every connection: lookups, the push queue, the worker pool, counters."""

    def __init__(
        self, config: GatewayConfig, access: Access, pipeline: Pipeline, commands: CommandRunner | None = None
    ) -> None:
        self.config = config
        self.access = access
        self.pipeline = pipeline
        self.commands = commands
        # User commands get a pool of their own: a followed log must never hold up a push.
        self.command_pool = ThreadPoolExecutor(config.limits.workers, thread_name_prefix="command")
        self.queue = FleetQueue(access.database, config.node_id, self.lookup)
        self.pool = ThreadPoolExecutor(config.limits.workers, thread_name_prefix="push")
        self.lookups = ThreadPoolExecutor(4, thread_name_prefix="lookup")
        self.unpackers = worker_pool(config.limits.unpack_workers) if config.limits.unpack_workers else None
        self.unauthenticated = 0
        self.sessions = Sessions()

    def close(self) -> None:
        """Take no new sessions or pushes; the ones running go on (gitd/shutdown.py)."""
        self.sessions.closing = True
        self.queue.close()

    async def lookup(self, fn, *args):
        """Run a blocking database lookup off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.lookups, fn, *args)

    def stop_pools(self) -> None:
        """Let the worker pools go once the sessions have ended (or been given up on)."""
        for pool in (self.pool, self.command_pool, self.lookups, self.unpackers):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
