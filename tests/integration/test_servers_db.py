"""Servers and fleet proxies against real databases, SQLite and PostgreSQL (issue 5)."""

from __future__ import annotations

import pytest
from fleetgate.deploy.servers import inventory as servers
from fleetgate.deploy.servers.inventory import Address, Proxy, ServerError
from fleetgate.deploy.servers.roles import RoleError

from fleetgate import fleets, users
from fleetgate.db import Database


@pytest.fixture
def web(database: Database) -> fleets.Fleet:
    with database.session() as session:
        users.add_user(session, "alice")
        fleets.create_fleet(session, "alice", "other", "generic-amd64")
        return fleets.create_fleet(session, "alice", "web", "generic-amd64")


def endpoints(database: Database, fleet_id: int) -> list[tuple[str, str | None]]:
    with database.session(readonly=True) as session:
        return [(s.address.url, s.role) for s in servers.list_servers(session, fleet_id)]


def test_servers_are_added_listed_in_order_and_removed(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        first = servers.add_server(session, web, Address("deploy", "10.0.0.5"), "web", "/keys/id")
        servers.add_server(session, web, Address("deploy", "10.0.0.5", 2222))
        servers.add_server(session, web, Address("root", "app.example.org"), "worker")
    assert (first.address.url, first.role, first.key_path) == ("ssh://deploy@10.0.0.5:22", "web", "/keys/id")
    assert endpoints(database, web.id) == [
        ("ssh://deploy@10.0.0.5:22", "web"),
        ("ssh://deploy@10.0.0.5:2222", None),
        ("ssh://root@app.example.org:22", "worker"),
    ]
    with database.session() as session:
        assert servers.has_servers(session, web.id)
        other = fleets.get_fleet(session, "alice", "other")
        assert not servers.has_servers(session, other.id)
        assert servers.ports_of(session, "10.0.0.5") == [22, 2222]
        with pytest.raises(ServerError, match=r"several servers on 10.0.0.5 \(10.0.0.5, 10.0.0.5:2222\)"):
            servers.remove_server(session, web, "10.0.0.5")
        removed = servers.remove_server(session, web, "10.0.0.5:2222")
        assert removed.address.port == 2222
        servers.remove_server(session, web, "10.0.0.5")  # one left on that host: the port may be left out
    assert endpoints(database, web.id) == [("ssh://root@app.example.org:22", "worker")]


def test_a_host_and_port_is_a_server_of_a_fleet_once(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        servers.add_server(session, web, Address("deploy", "10.0.0.5"))
    with database.session() as session, pytest.raises(ServerError, match="already a server of alice/web"):
        servers.add_server(session, web, Address("other", "10.0.0.5", 22))
    with database.session() as session:
        other = fleets.get_fleet(session, "alice", "other")
        servers.add_server(session, other, Address("deploy", "10.0.0.5"))  # another fleet may share the host
    assert len(endpoints(database, web.id)) == 1


def test_refusals(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        with pytest.raises(RoleError, match="invalid role 'Web'"):
            servers.add_server(session, web, Address("deploy", "10.0.0.5"), "Web")
        with pytest.raises(ServerError, match="10.0.0.9 is not a server of alice/web; see: fleetgate server"):
            servers.remove_server(session, web, "10.0.0.9")
    assert endpoints(database, web.id) == []


def test_servers_go_with_their_fleet(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        servers.add_server(session, web, Address("deploy", "10.0.0.5"))
        servers.set_proxy(session, web.id, Proxy(host="app.example.org"))
    with database.session() as session:
        fleets.remove_fleet(session, "alice", "web")
    with database.session(readonly=True) as session:
        assert servers.list_servers(session, web.id) == []
        assert servers.proxy_of(session, web.id) == Proxy()


def test_proxy_settings(database: Database, web: fleets.Fleet) -> None:
    with database.session() as session:
        assert servers.proxy_of(session, web.id) == Proxy()
        servers.set_proxy(session, web.id, Proxy(host="App.Example.org."))
        both = servers.set_proxy(session, web.id, Proxy(tls_cert="/tls/cert.pem", tls_key="/tls/key.pem"))
    assert both == Proxy("app.example.org", "/tls/cert.pem", "/tls/key.pem")
    with database.session() as session:
        with pytest.raises(ServerError, match="give the TLS certificate and its key together"):
            servers.set_proxy(session, web.id, Proxy(tls_cert="/tls/other.pem"))
        with pytest.raises(ServerError, match="is not a host name"):
            servers.set_proxy(session, web.id, Proxy(host="bad_name"))
    with database.session(readonly=True) as session:
        assert servers.proxy_of(session, web.id) == both
