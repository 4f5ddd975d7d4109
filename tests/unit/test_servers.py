"""Server addresses, endpoints and role selection of services, as tables (issue 5)."""

from __future__ import annotations

import pytest
from fleetgate.deploy.servers.inventory import Address, ServerError, parse_address, parse_endpoint
from fleetgate.deploy.servers.roles import RoleError, check_role, roles_of, services_for


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssh://deploy@10.0.0.5", Address("deploy", "10.0.0.5", 22)),
        ("ssh://deploy@10.0.0.5:2222", Address("deploy", "10.0.0.5", 2222)),
        ("ssh://root@web-1.example.org", Address("root", "web-1.example.org", 22)),
        ("ssh://root@Web-1.Example.ORG.:22/", Address("root", "web-1.example.org", 22)),
        ("ssh://deploy@[::1]:2200", Address("deploy", "::1", 2200)),
        ("ssh://deploy@[FE80::1]", Address("deploy", "fe80::1", 22)),
        ("ssh://app_user.1@127.0.0.11:22", Address("app_user.1", "127.0.0.11", 22)),
        ("  ssh://deploy@host  ", Address("deploy", "host", 22)),
    ],
)
def test_addresses(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("deploy@10.0.0.5", "'deploy@10.0.0.5' is not a server address; give it as ssh://USER@HOST[:PORT]"),
        ("ssh://10.0.0.5", "'ssh://10.0.0.5' is not a server address; give it as ssh://USER@HOST[:PORT]"),
        ("http://deploy@host", "'http://deploy@host' is not a server address"),
        ("ssh://deploy@host:0", "port 0 in 'ssh://deploy@host:0' is not between 1 and 65535"),
        ("ssh://deploy@host:65536", "port 65536 in 'ssh://deploy@host:65536' is not between 1 and 65535"),
        ("ssh://deploy@host:22/path", "'ssh://deploy@host:22/path' is not a server address"),
        ("ssh://deploy@host:22:23", "'ssh://deploy@host:22:23' is not a server address"),
        ("ssh://de ploy@host", "is not a server address"),
        ("ssh://-rf@host", "'-rf' is not a user name"),
        ("ssh://deploy@-oProxyCommand=x", "'-oProxyCommand=x' is not a host name or an IP address"),
        ("ssh://deploy@host_1", "'host_1' is not a host name or an IP address"),
        ("ssh://deploy@[::1", "is not a server address"),
        ("ssh://deploy@[zz::1]", "is not a server address"),
        ("ssh://deploy@1234", "'1234' is not a host name or an IP address"),
        ("", "'' is not a server address"),
    ],
)
def test_refused_addresses(text: str, message: str) -> None:
    with pytest.raises(ServerError) as raised:
        parse_address(text)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_trailing_newline_is_tolerated_like_other_whitespace() -> None:
    assert parse_address("ssh://deploy@host\n") == Address("deploy", "host", 22)


@pytest.mark.parametrize(
    ("address", "endpoint", "url"),
    [
        (Address("d", "10.0.0.5"), "10.0.0.5", "ssh://d@10.0.0.5:22"),
        (Address("d", "10.0.0.5", 2222), "10.0.0.5:2222", "ssh://d@10.0.0.5:2222"),
        (Address("d", "::1", 2222), "[::1]:2222", "ssh://d@[::1]:2222"),
        (Address("d", "::1"), "[::1]", "ssh://d@[::1]:22"),
    ],
)
def test_endpoints_and_urls(address: Address, endpoint: str, url: str) -> None:
    assert (address.endpoint, address.url) == (endpoint, url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.5", ("10.0.0.5", None)),
        ("10.0.0.5:2222", ("10.0.0.5", 2222)),
        ("Web.Example.org", ("web.example.org", None)),
        ("[::1]:22", ("::1", 22)),
        ("[::1]", ("::1", None)),
        ("::1", ("::1", None)),
        ("ssh://deploy@h:2200", ("h", 2200)),
    ],
)
def test_parse_endpoint(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["h:x", "h:", ":22", "h:99999", "a b", "[::1]:x"])
def test_refused_endpoints(text: str) -> None:
    with pytest.raises(ServerError):
        parse_endpoint(text)


@pytest.mark.parametrize("role", ["web", "worker-2", "a", "db"])
def test_roles(role: str) -> None:
    assert check_role(role) == role


@pytest.mark.parametrize("role", ["", "Web", "2web", "web_1", "web,db", "-web", "x" * 32])
def test_refused_roles(role: str) -> None:
    with pytest.raises(RoleError, match="invalid role"):
        check_role(role)


SERVICES = {
    "web": {"image": "r/web", "labels": {"io.fleetgate.role": "web"}},
    "jobs": {"image": "r/jobs", "labels": ["io.fleetgate.role=worker, cron", "other=1"]},
    "both": {"image": "r/both", "labels": {"io.fleetgate.role": "web,worker"}},
    "sidecar": {"image": "r/sidecar", "labels": {"other": "1"}},
    "bare": {"image": "r/bare"},
}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, ("web", "jobs", "both", "sidecar", "bare")),
        ("web", ("web", "both", "sidecar", "bare")),
        ("worker", ("jobs", "both", "sidecar", "bare")),
        ("cron", ("jobs", "sidecar", "bare")),
        ("db", ("sidecar", "bare")),
    ],
)
def test_services_for_a_role(role: str | None, expected: tuple[str, ...]) -> None:
    assert services_for(role, SERVICES) == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"io.fleetgate.role": "web"}, frozenset({"web"})),
        ({"io.fleetgate.role": " web , worker ,"}, frozenset({"web", "worker"})),
        ({"io.fleetgate.role": ""}, frozenset()),
        (["io.fleetgate.role=web"], frozenset({"web"})),
        ([], frozenset()),
        (None, frozenset()),
    ],
)
def test_roles_of_a_service(labels: object, expected: frozenset[str]) -> None:
    assert roles_of("s", {"labels": labels}) == expected


def test_a_bad_role_label_names_the_service() -> None:
    with pytest.raises(RoleError, match=r"service web: io.fleetgate.role 'Web Tier' is not a list of roles"):
        roles_of("web", {"labels": {"io.fleetgate.role": "Web Tier"}})
