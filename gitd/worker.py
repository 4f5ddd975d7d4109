"""A blocking protocol exchange (dulwich) in a worker pool, over a bridge to the SSH channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing
from collections.abc import Callable
from concurrent.futures import Executor

from dulwich.protocol import Protocol

from .bridge import ChannelBridge, ChannelClosed
from .receive import ProtocolViolation
from .sessions import Running

log = logging.getLogger(__name__)
T = typing.TypeVar("T")


async def in_worker(
    pool: Executor, process, running: Running, work: Callable[[Protocol, ChannelBridge, typing.Any], T]
) -> tuple[int, T | None]:
    """Run `work(proto, bridge, cancelled)` in `pool`: its exit status, and its result once it is done."""
    loop = asyncio.get_running_loop()
    bridge = ChannelBridge(loop, process)
    proto = Protocol(bridge.read, bridge.write)
    proto.recv = bridge.recv  # type: ignore[attr-defined]

    def run() -> tuple[int, T | None]:
        try:
            return 0, work(proto, bridge, running.cancelled)
        except ChannelClosed:
            log.info("client went away")
            return 1, None
        except ProtocolViolation as e:
            with contextlib.suppress(ChannelClosed):
                bridge.write_stderr(f"fleetgate: {e}\n".encode())
            return 1, None

    return await loop.run_in_executor(pool, run)
