"""Tables for the pure parts of server rollouts: commands, container specs, proxy config, prune plans."""

from __future__ import annotations

import pytest
from fleetgate.deploy.servers import commands as cmd
from fleetgate.deploy.servers import container_spec, proxy
from fleetgate.deploy.servers.proxy import Listen, Route, Slot, SlotStat
from fleetgate.deploy.servers.rollout import RolloutRelease, ServerTarget, rollout

H = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("command", "line", "stdin"),
    [
        (cmd.unlock("alice/demo"), "rm -rf -- .fleetgate/locks/alice.demo", None),
        (
            cmd.lock("alice/demo", {"who": "alice", "release": "alice/demo#4"}),
            'sh -c \'mkdir -p "$1" && if mkdir "$2" 2>/dev/null; then cat > "$2/details"; '
            'else cat "$2/details" 2>/dev/null; exit 3; fi\' sh .fleetgate/locks .fleetgate/locks/alice.demo',
            b'{"release": "alice/demo#4", "who": "alice"}',
        ),
        (
            cmd.login("127.0.0.1:5001", "fleetgate"),
            "docker login --username fleetgate --password-stdin 127.0.0.1:5001",
            None,
        ),
        (
            cmd.pull("r/x@sha256:ab"),
            'sh -c \'docker image inspect "$1" >/dev/null 2>&1 || '
            '{ docker pull -q "$1" >/dev/null && echo pulled; }\' sh r/x@sha256:ab',
            None,
        ),
        (
            cmd.images(),
            "docker images --digests --no-trunc --format '{{.Repository}}\t{{.Digest}}'",
            None,
        ),
        (
            cmd.audit("it's\nme"),
            'sh -c \'mkdir -p "$1" && printf "%s\\n" "$3" >> "$2"\' sh .fleetgate .fleetgate/audit.log '
            "'it'\"'\"'s me'",
            None,
        ),
        (cmd.stop(["a", "b"], 10), "docker stop --time 10 a b", None),
        (cmd.published_port("c", 8000), "docker port c 8000/tcp", None),
        (cmd.logs("c", 30), "docker logs --tail 30 c", None),
    ],
)
def test_commands(command, line, stdin):
    assert command.line == line
    assert command.stdin == stdin


def test_lock_held_status_is_fine_for_the_executor():
    assert cmd.lock("a/b", {}).ok == (0, cmd.LOCK_HELD)


def test_names():
    assert cmd.container_name("alice/demo", "web", H) == "alice.demo_web_0123456789ab"
    assert cmd.env_file_path("x") == ".fleetgate/env/x.env"


def test_env_file_is_secret_and_one_line_per_value():
    command = cmd.env_file("c", {"A": "1", "B": "x y=z"})
    assert command.secret and command.stdin == b"A=1\nB=x y=z\n"
    with pytest.raises(cmd.CommandError, match="one-line value"):
        cmd.env_file("c", {"A": "1\n2"})


WEB = {"image": "r/x@sha256:ab", "labels": {"io.fleetgate.proxy.port": "8000"}}


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        ({"web": WEB}, container_spec.WebService("web", 8000, "/up")),
        ({"worker": {"image": "i"}}, None),
        (
            {
                "web": {
                    "labels": ["io.fleetgate.proxy.port=80", "io.fleetgate.proxy.healthcheck.path=/health"]
                }
            },
            container_spec.WebService("web", 80, "/health"),
        ),
    ],
)
def test_web_service(services, expected):
    assert container_spec.web_service(services) == expected


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ({"web": {"labels": {"io.fleetgate.proxy.port": "http"}}}, "is not a port number"),
        ({"a": WEB, "b": WEB}, "services a, b all carry io.fleetgate.proxy.port"),
        (
            {
                "web": {
                    "labels": {"io.fleetgate.proxy.port": "80", "io.fleetgate.proxy.healthcheck.path": "up"}
                }
            },
            "like /up",
        ),
    ],
)
def test_web_service_errors(services, message):
    with pytest.raises(container_spec.SpecError, match=message):
        container_spec.web_service(services)


def test_create_web_service():
    web = container_spec.web_service({"web": WEB})
    body = {**WEB, "command": "httpd -f", "volumes": ["data:/data"], "restart": "always"}
    line = container_spec.create("alice/demo", H, "web", body, "n", web, "127.0.0.1").line
    assert line == (
        "docker create --name n --env-file .fleetgate/env/n.env --label io.fleetgate.proxy.port=8000 "
        "--label io.fleetgate.managed=1 --label io.fleetgate.fleet=alice/demo "
        f"--label io.fleetgate.release={H} --label io.fleetgate.service=web --restart always "
        "--network fleetgate-alice.demo --network-alias web --publish 127.0.0.1::8000 "
        "--volume alice.demo_data:/data r/x@sha256:ab httpd -f"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image": "i", "privileged": True}, "'privileged' is not allowed on servers"),
        ({"image": "i", "network_mode": "host"}, "'network_mode' is not allowed"),
        ({"image": "i", "volumes": ["/:/host"]}, "bind mounts stay on the host"),
        ({"image": "i", "volumes": ["./x:/x"]}, "bind mounts stay on the host"),
        ({}, "has no image"),
        ({"image": "i", "command": "sh -c 'echo"}, "command .sh -c 'echo. cannot be split into words"),
    ],
)
def test_create_refuses_host_access(body, message):
    with pytest.raises(container_spec.SpecError, match=message):
        container_spec.create("a/b", H, "s", body, "n", None, "127.0.0.1")


TWO = {
    "web": WEB,
    "worker": {"image": "r/w@sha256:cd", "ports": ["8080:80"], "labels": {"io.fleetgate.role": "worker"}},
}


def test_every_service_is_checked_before_any_host_is_touched():
    # The web service comes first and is fine; the worker, which no web server would even run, is not.
    with pytest.raises(container_spec.SpecError, match="service worker: 'ports' is not allowed on servers"):
        container_spec.check_services("a/b", H, TWO)
    container_spec.check_services("a/b", H, {"web": WEB})


def test_a_refused_service_ends_the_rollout_before_it_connects(tmp_path):
    # Nothing listens on port 9 of 192.0.2.1 (TEST-NET-1): any attempt to connect would fail differently.
    server = ServerTarget("192.0.2.1", 9, "deploy", None, "web", tmp_path / "known_hosts", ("web",))
    given = RolloutRelease("a/b", 1, H, "a/b#1", {"services": TWO})
    result = rollout(given, [server], who="t", say=lambda line: pytest.fail(f"a host was touched: {line}"))
    assert (result.ok, result.reason, result.hosts) == (
        False,
        "service worker: 'ports' is not allowed on servers; remove it from the compose file",
        (),
    )


def test_environment_overlay():
    assert container_spec.environment_of({"environment": ["A=1", "B=2"]}, {"B": "3"}) == {"A": "1", "B": "3"}
    assert container_spec.environment_of({"environment": {"A": None}}, {}) == {"A": ""}


ROUTE = Route("alice/demo", "app.example.org", "/up", False, "a", Slot("c1", H, "127.0.0.1:32768"), None)


def test_proxy_config():
    text = proxy.config([ROUTE], Listen("", 80, 443))
    assert "    bind :80\n" in text and "ssl crt" not in text
    assert "    use_backend fg_alice.demo if { var(txn.host) -m str app.example.org }\n" in text
    assert "    http-check send meth GET uri /up ver HTTP/1.1 hdr Host app.example.org\n" in text
    assert "    server a 127.0.0.1:32768 check\n    server b 127.0.0.1:9 check disabled\n" in text
    tls = proxy.config([ROUTE, Route("bob/x", None, "/health", True)], Listen("127.0.0.11", 8080, 8443))
    assert "    bind 127.0.0.11:8443 ssl crt /etc/fleetgate-proxy/certs/\n" in tls
    assert "    default_backend fg_bob.x\n" in tls


def test_routes_round_trip_and_conflicts():
    assert proxy.parse_route(proxy.route_json(ROUTE).decode()) == ROUTE
    assert ROUTE.idle == "b" and Route("a/b", None, "/up", False).idle == "a"
    other = Route("bob/x", "app.example.org", "/up", False)
    assert proxy.check_routes([ROUTE, other]) == (
        "bob/x and alice/demo want app.example.org on this server; give each fleet its own --host"
    )
    assert proxy.check_routes([ROUTE, Route("bob/x", "b.example.org", "/up", False)]) is None


def test_runtime_commands_and_stats():
    command = proxy.set_slot(ROUTE, "b", "127.0.0.1:40000", "drain")
    assert (
        command.stdin
        == b"set server fg_alice.demo/b addr 127.0.0.1 port 40000; set server fg_alice.demo/b state drain\n"
    )
    stat = (
        "# pxname,svname,scur,status,check_status\n"
        "fg_alice.demo,a,2,UP,L7OK\nfg_alice.demo,b,0,DRAIN 1/2,INI\n"
    )
    found = proxy.parse_stat(stat, "fg_alice.demo")
    assert found == {"a": SlotStat("UP", "L7OK", 2), "b": SlotStat("DRAIN 1/2", "INI", 0)}
    assert found["a"].healthy and not found["b"].healthy
    # A check in progress: HAProxy shows the last one's status after "* " (server status said
    # "unhealthy" whenever it asked during one of the 500 ms checks).
    during = proxy.parse_stat(stat.replace(",UP,L7OK", ",UP,* L7OK"), "fg_alice.demo")
    assert during["a"] == SlotStat("UP", "L7OK", 2) and during["a"].healthy


def test_removals_name_each_refusal_and_force_nothing():
    command = cmd.remove_images(["r/x@sha256:ab", "r/y@sha256:cd"])
    assert command.argv[:2] == ("sh", "-c") and command.argv[4:] == ("rmi", "r/x@sha256:ab", "r/y@sha256:cd")
    assert "-f" not in command.argv[2] and cmd.remove_stopped(["a"]).argv[4:] == ("rm", "a")
    out = "r/x@sha256:ab\tError response from daemon: conflict: image is in use\nnoise\n"
    assert cmd.refusals(out) == {"r/x@sha256:ab": "Error response from daemon: conflict: image is in use"}


def test_lock_held_message():
    details = '{"who": "bob", "since": "2026-11-22T07:00:00Z", "release": "a/b#3"}'
    assert cmd.lock_held(details, "a/b", "h:2222") == (
        "deploy lock of a/b on h:2222 is held by bob since 2026-11-22T07:00:00Z for a/b#3; "
        "wait for that rollout, or if it died: fleetgate server unlock a/b h:2222"
    )
    assert "is held (no details);" in cmd.lock_held("", "a/b", "h")
