"""The database: engine, sessions and migrations, the same code on SQLite and PostgreSQL (DESIGN.md §8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .settings import SettingsError

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a unit test holds it to alembic's own head): a database
# already there needs no alembic, whose import and script scan cost every CLI command a quarter second.
HEAD = "0009"
# pg_advisory_xact_lock key: two nodes starting at once must not both run the same migration.
_MIGRATE_LOCK = 0x666C6774  # "flgt"
_READONLY = "fleetgate_readonly"


class DriverMissing(SettingsError):
    """FLEETGATE_DATABASE_URL names a database whose Python driver is not installed."""


def _normalise(url: str) -> URL:
    """Parse the URL; a bare `postgresql://` means psycopg 3, the driver of `fleetgate[postgresql]`."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own BEGIN handling is off so that `_sqlite_begin` decides (and savepoints work).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A deferred transaction that later writes fails at once with "database is locked" when another
    # writer committed meanwhile (busy_timeout does not apply); IMMEDIATE takes the write lock up front.
    if conn.get_execution_options().get(_READONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One database: an engine, sessions that commit or roll back, and schema migrations."""

    def __init__(self, url: str) -> None:
        self.url = _normalise(url)
        self.engine = self._engine()
        self._reader = self.engine.execution_options(**{_READONLY: True})

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def _engine(self) -> Engine:
        if self.url.get_backend_name() != "sqlite":
            try:
                return create_engine(self.url, pool_pre_ping=True)
            except ImportError as error:  # the driver is an extra: SQLite needs none
                if self.url.get_backend_name() != "postgresql":
                    raise
                raise DriverMissing(
                    f"FLEETGATE_DATABASE_URL is a PostgreSQL URL but its driver ({error.name or 'psycopg'}) "
                    "is not installed: pip install 'fleetgate[postgresql]'"
                ) from None
        engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine

    @contextmanager
    def session(self, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back if it raises."""
        bind = self._reader if readonly else self.engine
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest revision (alembic upgrade head)."""
        if self._at_head():
            return
        with self.engine.connect() as conn:
            if self.dialect != "sqlite":
                self._upgrade(conn)
                return
            # SQLite rebuilds a table to alter it (alembic batch mode); with foreign keys on, dropping the
            # old table would cascade into the rows that point at it. The pragma is a no-op in a transaction.
            raw = conn.connection.dbapi_connection
            raw.execute("PRAGMA foreign_keys=OFF")
            try:
                self._upgrade(conn)
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            finally:
                raw.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")

    def _at_head(self) -> bool:
        """True when the schema is already at HEAD (read without alembic; any doubt means migrate)."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
        except DBAPIError:  # no alembic_version table yet: a new database
            return False

    def _upgrade(self, conn: Connection) -> None:
        from alembic import command  # imported here: only a database behind HEAD needs alembic
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with conn.begin():
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The schema revision the database is at, None before the first migration."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
