"""Several services, roles, the operator's environment and TLS at the proxy (issue 5)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
from dataclasses import replace

from fleetgate.deploy.servers.rollout import rollout

from .app import composition
from .conftest import OPTIONS, get, host_name, release, targets

HTTPS_PORT = OPTIONS.https_port


def self_signed(folder, name: str):
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def https_get(address: str, name: str, cafile) -> tuple[int, str]:
    """GET / over TLS from `address`, with SNI and the certificate check for the fleet's host `name`."""
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPConnection(name, HTTPS_PORT, timeout=10)
    conn.sock = context.wrap_socket(socket.create_connection((address, HTTPS_PORT), 10), server_hostname=name)
    try:
        conn.request("GET", "/", headers={"Host": name})
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def env_of(server, name: str) -> dict[str, str]:
    raw = json.loads(server.dockerd.cli("inspect", "-f", "{{json .Config.Env}}", name).stdout)
    return dict(item.split("=", 1) for item in raw)


def test_services_roles_environment_and_tls(servers, images, tmp_path):
    slug = "alice/full"
    cert, key = self_signed(tmp_path, host_name(slug))
    doc = composition(images["one"])
    doc["services"]["web"]["environment"] = {"GREETING": "from compose", "LEVEL": "1"}
    doc["services"]["worker"] = {
        "image": images["one"],
        "command": ["sh", "-c", "exec sleep 3600"],
        "labels": {"io.fleetgate.role": "worker"},
        "healthcheck": {"test": ["CMD", "true"], "interval": "1s"},
    }
    rel = replace(
        release(slug, "one", images["one"]),
        composition=doc,
        environment={"web": {"GREETING": "from fleetgate env"}, "worker": {"TOKEN": "s3cret"}},
        tls_cert=cert,
        tls_key=key,
    )
    web_only = [targets(servers)[0], replace(targets(servers)[1], role="web", services=("web",))]
    lines: list[str] = []
    result = rollout(rel, web_only, who="alice", say=lines.append, options=OPTIONS)
    assert result.ok, (result.reason, lines)
    assert not any("s3cret" in line for line in lines)

    prefix = slug.replace("/", ".")
    hash12 = rel.release_hash[:12]
    web_env = env_of(servers[0], f"{prefix}_web_{hash12}")
    assert {"GREETING": "from fleetgate env", "LEVEL": "1"}.items() <= web_env.items()
    assert env_of(servers[0], f"{prefix}_worker_{hash12}")["TOKEN"] == "s3cret"
    assert servers[1].dockerd.cli("inspect", f"{prefix}_worker_{hash12}", check=False).returncode != 0
    for server in servers:
        assert list((server.home / ".fleetgate" / "env").iterdir()) == []  # env files go after create
        assert https_get(server.host, host_name(slug), cert) == (200, "release one\n")
        stored = server.home / ".fleetgate" / "proxy" / "certs" / f"{prefix}.pem"
        assert stored.stat().st_mode & 0o077 == 0


def test_a_value_no_host_can_take_fails_the_rollout_before_any_host_changes(servers, images):
    # Regression: a multi-line value of a service only the second host runs was found on that host,
    # after the canary had switched; the error escaped the switch-back and the canary kept serving the
    # release the push then rejected.
    slug = "alice/envcheck"
    web_only = [replace(targets(servers)[0], services=("web",)), targets(servers)[1]]
    first = release(slug, "one", images["one"])
    assert rollout(first, web_only, who="alice", say=lambda line: None, options=OPTIONS).ok
    doc = composition(images["two"])
    doc["services"]["worker"] = {"image": images["two"], "command": ["sh", "-c", "exec sleep 3600"]}
    bad = replace(
        release(slug, "two", images["two"]), composition=doc, environment={"worker": {"PEM": "line1\nline2"}}
    )
    lines: list[str] = []
    result = rollout(bad, web_only, who="alice", say=lines.append, options=OPTIONS)
    assert not result.ok
    assert result.reason == (
        "service worker: environment variable 'PEM': a name without '=' and a one-line value, please"
    )
    assert lines == [] and result.hosts == ()  # no host was touched
    for server in servers:
        assert get(server, slug) == (200, "release one\n")
        label = f"label=io.fleetgate.fleet={slug}"
        names = server.dockerd.cli("ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split()
        assert all(bad.release_hash[:12] not in name for name in names), names


def test_a_custom_health_path_is_the_one_the_proxy_checks(servers, images):
    # The broken app has no /up, which the default check asks for; its label names a page it has.
    slug = "alice/health"
    rel = replace(
        release(slug, "broken", images["broken"]), composition=composition(images["broken"], "/index.html")
    )
    lines: list[str] = []
    result = rollout(rel, targets(servers), who="alice", say=lines.append, options=OPTIONS)
    assert result.ok, (result.reason, lines)
    for server in servers:
        assert get(server, slug) == (200, "release broken\n")


def test_a_service_that_dies_fails_the_host_and_leaves_the_old_release(servers, images):
    slug = "alice/dying"
    assert rollout(
        release(slug, "one", images["one"]), targets(servers), who="a", say=print, options=OPTIONS
    ).ok
    doc = composition(images["two"])
    doc["services"]["worker"] = {
        "image": images["two"],
        "command": ["sh", "-c", "echo worker: no queue; exit 3"],
    }
    dying = replace(release(slug, "two", images["two"]), composition=doc)
    lines: list[str] = []
    result = rollout(dying, targets(servers), who="alice", say=lines.append, options=OPTIONS)
    assert not result.ok
    prefix, hash12 = slug.replace("/", "."), dying.release_hash[:12]
    endpoint = f"{servers[0].host}:{servers[0].port}"
    assert result.reason == (
        f"rollout failed on {endpoint}: container {prefix}_worker_{hash12} exited with status 3"
    )
    assert [h.state for h in result.hosts] == ["failed", "not started"]
    assert any("worker: no queue" in line for line in lines), lines  # its log, for the pusher
    for server in servers:
        assert get(server, slug) == (200, "release one\n")
        label = f"label=io.fleetgate.fleet={slug}"
        names = server.dockerd.cli("ps", "-a", "--filter", label, "--format", "{{.Names}}").stdout.split()
        assert all(hash12 not in name for name in names), names  # what it created is gone
