"""The probes behind `GET /healthz`: the database, the repositories' disk, the build daemons, the registry.

Each probe is blocking, short (a query, a statvfs, a ping, one HTTP request, each with a 2 s timeout) and
never raises: what went wrong is its check's one-line detail. `Health` runs them on a small pool of its own
(a hung database never holds the API's threads), at most one of each kind at a time, and answers from the
last round for a second, so that a flood of requests costs the dependencies nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
from sqlalchemy import text

from . import health
from .db import Database
from .health import DOWN, OFF, OK, Check

TIMEOUT = 2.0
FRESH = 1.0  # seconds an answer is reused
DEFAULT_DOCKER = "unix:///var/run/docker.sock"
NO_REGISTRY = "none configured (FLEETGATE_REGISTRY): images stay in the build daemon"


def _one_line(error: BaseException) -> str:
    said = " ".join(str(error).split()) or type(error).__name__
    return said[:300]


@dataclass(frozen=True)
class Probe:
    """A dependency's name, whether serving needs it, and the blocking function that checks it."""

    name: str
    required: bool
    check: Callable[[], Check]


def database(db: Database) -> Probe:
    """`SELECT 1` on the gateway's database."""

    def check() -> Check:
        try:
            with db.session(readonly=True) as session:
                session.execute(text("SELECT 1"))
        except Exception as error:
            return Check("database", DOWN, True, f"{db.dialect}: {_one_line(error)}")
        return Check("database", OK, True, db.dialect)

    return Probe("database", True, check)


def disk(repositories: Path, minimum: int) -> Probe:
    """Free space and write access where the fleets' repositories live."""

    def check() -> Check:
        try:
            usage = shutil.disk_usage(repositories)
        except OSError as error:
            return Check("disk", DOWN, True, f"{repositories}: {error.strerror or _one_line(error)}")
        writable = os.access(repositories, os.W_OK | os.X_OK)
        return health.disk("disk", str(repositories), usage.free, usage.total, minimum, writable)

    return Probe("disk", True, check)


def docker_daemons(builders: Sequence[tuple[str, str | None]]) -> Probe:
    """A ping of every build daemon (`/_ping`); a client per daemon, kept (an ssh:// one keeps its login)."""
    clients: dict[str, docker.APIClient] = {}

    def ping(name: str, url: str | None) -> str:
        try:
            if name not in clients:
                clients[name] = docker.APIClient(base_url=url or DEFAULT_DOCKER, timeout=TIMEOUT)
            clients[name].ping()
        except Exception as error:
            clients.pop(name, None)  # a new client next time: the daemon may have moved or restarted
            return _one_line(error)
        return OK

    def check() -> Check:
        seen = {name: ping(name, url) for name, url in builders}
        named = {name: f"{name} ({url or DEFAULT_DOCKER})" for name, url in builders}
        broken = [f"{named[name]}: {said}" for name, said in seen.items() if said != OK]
        if broken:
            return Check("docker", DOWN, True, "; ".join(broken), {"builders": seen})
        return Check("docker", OK, True, ", ".join(named.values()), {"builders": seen})

    return Probe("docker", True, check)


def registry(server: str, base_url: str | None) -> Probe:
    """`GET /v2/` on the registry (401 counts: it answers); off when none is configured."""

    def check() -> Check:
        if base_url is None:
            return Check("registry", OFF, False, NO_REGISTRY)
        try:
            answer = httpx.get(f"{base_url}/v2/", timeout=TIMEOUT)
        except httpx.HTTPError as error:
            return Check("registry", DOWN, True, f"{server}: {_one_line(error)}")
        if answer.status_code not in (200, 401):
            return Check("registry", DOWN, True, f"{server}: GET /v2/ answered {answer.status_code}")
        return Check("registry", OK, True, server)

    return Probe("registry", base_url is not None, check)


class Health:
    """Runs the probes with short timeouts, one of each kind at a time; an answer serves for a second."""

    def __init__(self, probes: Sequence[Probe]) -> None:
        self.probes = tuple(probes)
        self._pool = ThreadPoolExecutor(len(self.probes), thread_name_prefix="health")
        self._running: dict[str, Future[Check]] = {}
        self._last: tuple[float, list[Check]] | None = None
        self._lock = asyncio.Lock()

    async def checks(self) -> list[Check]:
        """Every dependency's check, fresh within the last second."""
        async with self._lock:
            if self._last is None or time.monotonic() - self._last[0] > FRESH:
                found = await asyncio.gather(*(self._run(probe) for probe in self.probes))
                self._last = (time.monotonic(), list(found))
            return self._last[1]

    async def _run(self, probe: Probe) -> Check:
        future = self._running.get(probe.name)
        if future is None or future.done():  # a probe still hanging from before is waited for, not doubled
            future = self._pool.submit(probe.check)
            self._running[probe.name] = future
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), TIMEOUT + 0.5)
        except TimeoutError:
            return Check(probe.name, DOWN, probe.required, f"no answer within {TIMEOUT:.0f} s")
        except Exception as error:  # a probe never raises; this is the belt to its braces
            return Check(probe.name, DOWN, probe.required, _one_line(error))

    def close(self) -> None:
        """Let the probes' threads go."""
        self._pool.shutdown(wait=False, cancel_futures=True)
