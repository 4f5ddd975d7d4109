"""Shared fixtures: databases on SQLite and on a throwaway PostgreSQL cluster (DESIGN.md §5)."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetgate.db import Database

_databases = itertools.count(1)


def missing(reason: str) -> None:
    """Skip for a missing part outside CI; in CI (CI=true) a missing part is a failure (DESIGN.md §5)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root; the cluster belongs to the postgres user instead.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A running throwaway PostgreSQL cluster; yields the URL of its `postgres` database."""
    bindir = _postgres_bin()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="fleetgate-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    run = {"check": True, "capture_output": True, "cwd": root}
    subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-N"]), **run
    )
    options = f"-h 127.0.0.1 -p {port} -k {root} -F"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w"]
    subprocess.run(_as_postgres([*pg_ctl, "-o", options, "start"]), **run)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([*pg_ctl, "-m", "immediate", "stop"]), capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database per test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fleetgate.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    name = f"fleetgate_test_{os.getpid()}_{next(_databases)}"
    _pg_admin(server, f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _pg_admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated `Database` on each engine of `database_url`."""
    db = Database(database_url)
    db.migrate()
    try:
        yield db
    finally:
        db.dispose()


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under xdist, the integration packages (real dockerds, test servers, agents, gateways that build)
    run on one worker, one after the other, as they were written to; every other module is a unit of
    its own and spreads over the other workers (`loadscope`)."""
    from xdist.scheduler import LoadScopeScheduling

    class PackagesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            parts = module.split("/")
            in_package = parts[:2] == ["tests", "integration"] and len(parts) > 3
            return "tests/integration/*/" if in_package else module

    return PackagesTogether(config, log)
