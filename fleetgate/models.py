"""The database schema: SQLAlchemy models of the shared domain (DESIGN.md §1, §8).

Domain modules (users, keys, fleets, leases) read and write these rows and hand out frozen
dataclasses; no ORM object leaves them. Releases and their images arrive in migration 0002.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Explicit constraint names keep alembic's batch mode (SQLite) and PostgreSQL in step.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the only clock rows are stamped with."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware on every engine.

    SQLite keeps no time zone and would hand back naive datetimes; comparing those with
    aware ones raises, so every value is normalised on the way in and out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use fleetgate.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A person who pushes; `name` is a lower-case slug."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(39), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SSHKey(Base):
    """An OpenSSH public key that authenticates its user."""

    __tablename__ = "ssh_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    key_type: Mapped[str] = mapped_column(String(64))
    bits: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(200), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Fleet(Base):
    """A fleet: one bare repository on disk, located by this row's id."""

    __tablename__ = "fleets"
    # Never reuse a deleted fleet's id on SQLite: the id names the repository on disk.
    __table_args__ = (UniqueConstraint("owner_id", "name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(39))
    device_type: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wait_for_devices: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FleetMember(Base):
    """A user other than the owner who may push to a fleet."""

    __tablename__ = "fleet_members"

    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Lease(Base):
    """Running work (a push, a build) held by one node, kept alive by heartbeats (DESIGN.md §2.2)."""

    __tablename__ = "leases"
    # One holder per piece of work: the unique row is the cross-node mutual exclusion.
    __table_args__ = (UniqueConstraint("kind", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    node_id: Mapped[str] = mapped_column(String(128))
    heartbeat: Mapped[datetime] = mapped_column(UTCDateTime)
    expires: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Release(Base):
    """One build of a pushed commit for a fleet (DESIGN.md §2.4 *record*)."""

    __tablename__ = "releases"
    # The number is the per-fleet `id: N` users see; the unique pair guards its allocation.
    __table_args__ = (
        UniqueConstraint("fleet_id", "number"),
        CheckConstraint(
            "status IN ('running', 'success', 'failed', 'cancelled', 'interrupted')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(32), unique=True)
    commit: Mapped[str] = mapped_column(String(40))
    branch: Mapped[str] = mapped_column(String(255))
    options: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    # Names, not foreign keys: the record outlives the user and the key that pushed it.
    created_by_user: Mapped[str] = mapped_column(String(39))
    created_by_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    composition: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    builder: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(128))


class ReleaseImage(Base):
    """The image one service of a release was built into."""

    __tablename__ = "release_images"
    __table_args__ = (UniqueConstraint("release_id", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(63))
    image: Mapped[str] = mapped_column(Text)
    digest: Mapped[str | None] = mapped_column(String(80))
    size: Mapped[int | None] = mapped_column(BigInteger)
    build_seconds: Mapped[float | None] = mapped_column(Float)
    build_log: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))


class PushTicket(Base):
    """A push's place in its fleet's line: `waiting`, `holding` the fleet, or `superseded` (DESIGN.md §2.2).

    Rows, not session locks: a lock held for a whole push would pin a pooled connection, and the line
    must be shared by every gateway node on one PostgreSQL (§8).
    """

    __tablename__ = "push_tickets"
    __table_args__ = (CheckConstraint("state IN ('waiting', 'holding', 'superseded')", name="state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # arrival order: the newest is the highest
    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), index=True)
    node_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    expires: Mapped[datetime] = mapped_column(UTCDateTime)


class FleetTarget(Base):
    """The release a fleet's devices should run, and whether new releases leave it alone (pinned)."""

    __tablename__ = "fleet_targets"

    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), primary_key=True)
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FleetTargetLog(Base):
    """Each release that became a fleet's target, and why: what `fleetgate rollback` goes back along."""

    __tablename__ = "fleet_target_log"
    __table_args__ = (CheckConstraint("reason IN ('success', 'pin', 'latest', 'rollback')", name="reason"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"), index=True)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(16))


class Variable(Base):
    """An environment variable of a fleet, of one service, or (later) of one device (DESIGN.md §2.5)."""

    __tablename__ = "variables"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), index=True)
    service: Mapped[str | None] = mapped_column(String(63))
    device_uuid: Mapped[str | None] = mapped_column(String(62))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# NULL scopes are distinct in a plain unique constraint on both engines; coalesce makes them equal.
Index(
    "uq_variables_scope_key",
    Variable.fleet_id,
    func.coalesce(Variable.service, ""),
    func.coalesce(Variable.device_uuid, ""),
    Variable.key,
    unique=True,
)


class Device(Base):
    """A device registered to a fleet with a provisioning key; its API key is stored hashed."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(62), unique=True)
    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    device_type: Mapped[str] = mapped_column(String(64))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # A release removed under a pin unpins the device rather than deleting it.
    pinned_release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL"), index=True
    )
    lock_override: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str | None] = mapped_column(String(32))
    release_hash: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[int | None] = mapped_column(Integer)
    services: Mapped[dict] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProvisioningKey(Base):
    """A key that lets a new device register to one fleet; stored hashed, shown once."""

    __tablename__ = "provisioning_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FleetChange(Base):
    """A rising serial per fleet, bumped whenever its devices' targets change (wakes long-polls)."""

    __tablename__ = "fleet_changes"

    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger, index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Server(Base):
    """A host a fleet's releases are rolled out to over SSH; `role` picks its services (None: all)."""

    __tablename__ = "servers"
    __table_args__ = (UniqueConstraint("fleet_id", "host", "port"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), index=True)
    user: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(63))
    key_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FleetProxy(Base):
    """How a fleet's servers route web traffic: the host name and the operator's TLS files."""

    __tablename__ = "fleet_proxies"

    fleet_id: Mapped[int] = mapped_column(ForeignKey("fleets.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str | None] = mapped_column(String(253))
    tls_cert: Mapped[str | None] = mapped_column(Text)
    tls_key: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AccessToken(Base):
    """A user's access token for the HTTP API; stored hashed, shown once, never a device key."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "token" (Authorization: Bearer) or "session" (a browser's cookie): never accepted for each other.
    kind: Mapped[str] = mapped_column(String(16), default="token", server_default="token")


class LoginLink(Base):
    """A one-time sign-in link (`ssh git@HOST login`): stored hashed, short-lived, used once."""

    __tablename__ = "login_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    link_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[datetime | None] = mapped_column(UTCDateTime)
