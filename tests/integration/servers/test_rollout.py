"""Rollouts to two servers over SSH, through each server's proxy (issue 5)."""

from __future__ import annotations

import http.client

from fleetgate.deploy.rollout import rollout

from .conftest import HTTP_PORT, OPTIONS, release, targets


def get(host: str, path: str = "/") -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, HTTP_PORT, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "app.test"})
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_rollout_to_both_hosts(servers, images):
    lines: list[str] = []
    result = rollout(
        release("alice/demo", "one", images["one"]),
        targets(servers),
        who="alice",
        say=lines.append,
        options=OPTIONS,
    )
    assert result.ok, (result.reason, lines)
    for server in servers:
        assert get(server.host) == (200, "release one\n")
    assert [h.state for h in result.hosts] == ["switched", "switched"]
    result = rollout(
        release("alice/demo", "two", images["two"]),
        targets(servers),
        who="alice",
        say=lines.append,
        options=OPTIONS,
    )
    assert result.ok, (result.reason, lines)
    for server in servers:
        assert get(server.host) == (200, "release two\n")
    print("\n".join(lines))
