"""Inventory: the servers a fleet's releases are rolled out to over SSH (issue 5, DESIGN.md §2.5).

Server access is the operator's configuration (`fleetgate server add`), never the pushed repository's.
A server's role picks which compose services it runs (see `fleetgate.deploy.servers.roles`); a server
without a role runs them all. The fleet's proxy settings (host name, TLS files) apply to all of its servers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleetgate import fleets, models
from fleetgate.models import utcnow

from .roles import check_role

ADDRESS = re.compile(
    r"ssh://(?P<user>[^@/\s]+)@(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]\s]+)(?::(?P<port>[0-9]{1,5}))?/?"
)
USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"{LABEL}(?:\.{LABEL})*\.?")
IPV4 = re.compile(r"(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])")
DEFAULT_PORT = 22
ADDRESS_HINT = "give it as ssh://USER@HOST[:PORT], e.g. ssh://deploy@10.0.0.5"


class ServerError(ValueError):
    """A server command was refused or named no server; the message says what to do."""


@dataclass(frozen=True)
class Address:
    """Where to log in: user, host (IPv6 without brackets) and port."""

    user: str
    host: str
    port: int = DEFAULT_PORT

    @property
    def endpoint(self) -> str:
        """`HOST` on port 22, else `HOST:PORT` (`[V6]:PORT`), as the CLI shows and accepts it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """`ssh://USER@HOST:PORT`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user}@{host}:{self.port}"


@dataclass(frozen=True)
class Server:
    """A server of a fleet."""

    id: int
    fleet_id: int
    address: Address
    role: str | None
    key_path: str | None
    created_at: datetime


@dataclass(frozen=True)
class Proxy:
    """A fleet's proxy settings: the host name it routes and the operator's TLS certificate and key."""

    host: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


def check_host(host: str) -> str:
    """`host` if it is a DNS name or an IPv4 or IPv6 address (without brackets)."""
    if ":" in host:
        if not re.fullmatch(r"[0-9A-Fa-f:.]+", host) or host.count(":") < 2:
            raise ServerError(f"{host!r} is not an IPv6 address; {ADDRESS_HINT}")
        return host.lower()
    if len(host) > 253 or not (IPV4.fullmatch(host) or HOST_NAME.fullmatch(host)) or host.isdigit():
        raise ServerError(f"{host!r} is not a host name or an IP address; {ADDRESS_HINT}")
    return host.lower().rstrip(".")


def _port(text: str | None, given: str) -> int:
    port = DEFAULT_PORT if text is None else int(text)
    if not 1 <= port <= 65535:
        raise ServerError(f"port {port} in {given!r} is not between 1 and 65535")
    return port


def parse_address(text: str) -> Address:
    """Parse `ssh://USER@HOST[:PORT]`; anything else is a ServerError saying the form."""
    found = ADDRESS.fullmatch(text.strip())
    if found is None:
        raise ServerError(f"{text!r} is not a server address; {ADDRESS_HINT}")
    if not USER.fullmatch(found["user"]):
        raise ServerError(f"{found['user']!r} is not a user name; {ADDRESS_HINT}")
    host = check_host(found["host"].strip("[]"))
    return Address(found["user"], host, _port(found["port"], text))


def parse_endpoint(text: str) -> tuple[str, int | None]:
    """Parse `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address; the port is None when not given."""
    if text.startswith("ssh://"):
        address = parse_address(text)
        return address.host, address.port
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::([0-9]{1,5}))?", text)
    if bracketed:
        return check_host(bracketed[1]), None if bracketed[2] is None else _port(bracketed[2], text)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit():
            raise ServerError(f"{text!r} is not HOST[:PORT]; e.g. 10.0.0.5 or 10.0.0.5:2222")
        return check_host(host), _port(port, text)
    return check_host(text), None


def _server(row: models.Server) -> Server:
    address = Address(row.user, row.host, row.port)
    return Server(row.id, row.fleet_id, address, row.role, row.key_path, row.created_at)


def add_server(
    session: Session,
    fleet: fleets.Fleet,
    address: Address,
    role: str | None = None,
    key_path: str | None = None,
) -> Server:
    """Add a server to the fleet; one host and port appear once per fleet."""
    role = None if role is None else check_role(role)
    fleets.lock(session, fleet.id)
    taken = _rows(session, fleet.id, address.host, address.port)
    if taken:
        raise ServerError(
            f"{address.endpoint} is already a server of {fleet.slug}; "
            f"to change it: fleetgate server remove {fleet.slug} {address.endpoint}, then add it again"
        )
    row = models.Server(
        fleet_id=fleet.id,
        user=address.user,
        host=address.host,
        port=address.port,
        role=role,
        key_path=key_path,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # added by someone else since the check above
        raise ServerError(f"{address.endpoint} is already a server of {fleet.slug}") from None
    return _server(row)


def _rows(session: Session, fleet_id: int, host: str, port: int | None) -> list[models.Server]:
    query = select(models.Server).where(models.Server.fleet_id == fleet_id, models.Server.host == host)
    if port is not None:
        query = query.where(models.Server.port == port)
    return list(session.scalars(query.order_by(models.Server.port)))


def list_servers(session: Session, fleet_id: int) -> list[Server]:
    """The fleet's servers in the order they were added (the first is the canary)."""
    query = select(models.Server).where(models.Server.fleet_id == fleet_id).order_by(models.Server.id)
    return [_server(row) for row in session.scalars(query)]


def find_server(session: Session, fleet: fleets.Fleet, endpoint: str) -> Server:
    """The fleet's server at `HOST[:PORT]`; a ServerError when there is none or the port is needed."""
    host, port = parse_endpoint(endpoint)
    found = _rows(session, fleet.id, host, port)
    if not found:
        raise ServerError(
            f"{endpoint} is not a server of {fleet.slug}; see: fleetgate server list {fleet.slug}"
        )
    if len(found) > 1:
        ports = ", ".join(_server(row).address.endpoint for row in found)
        raise ServerError(f"{fleet.slug} has several servers on {host} ({ports}); name one with its port")
    return _server(found[0])


def remove_server(session: Session, fleet: fleets.Fleet, endpoint: str) -> Server:
    """Remove the fleet's server at `HOST[:PORT]` (its containers stay where they are)."""
    server = find_server(session, fleet, endpoint)
    row = session.get(models.Server, server.id)
    session.delete(row)
    session.flush()
    return server


def ports_of(session: Session, host: str) -> list[int]:
    """The ports servers on `host` are registered with, in any fleet."""
    query = select(models.Server.port).where(models.Server.host == check_host(host)).distinct()
    return sorted(session.scalars(query))


def has_servers(session: Session, fleet_id: int) -> bool:
    """Whether pushes to the fleet roll out to servers."""
    query = select(models.Server.id).where(models.Server.fleet_id == fleet_id).limit(1)
    return session.scalar(query) is not None


def proxy_of(session: Session, fleet_id: int) -> Proxy:
    """The fleet's proxy settings; all None until the operator sets them."""
    row = session.get(models.FleetProxy, fleet_id, populate_existing=True)
    return Proxy() if row is None else Proxy(row.host, row.tls_cert, row.tls_key)


def set_proxy(session: Session, fleet_id: int, proxy: Proxy) -> Proxy:
    """Replace the fields of the fleet's proxy settings that `proxy` gives (None keeps the old value)."""
    if proxy.host is not None:
        check_host(proxy.host)
    if (proxy.tls_cert is None) != (proxy.tls_key is None):
        raise ServerError("give the TLS certificate and its key together: --tls-cert FILE --tls-key FILE")
    fleets.lock(session, fleet_id)
    row = session.get(models.FleetProxy, fleet_id)
    if row is None:
        row = models.FleetProxy(fleet_id=fleet_id)
        session.add(row)
    if proxy.host is not None:
        row.host = proxy.host.lower().rstrip(".")
    if proxy.tls_cert is not None:
        row.tls_cert, row.tls_key = proxy.tls_cert, proxy.tls_key
    row.updated_at = utcnow()
    session.flush()
    return Proxy(row.host, row.tls_cert, row.tls_key)
