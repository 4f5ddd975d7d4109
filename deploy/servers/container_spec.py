"""Container spec: how a compose service of a release becomes `docker create` on a server (issue 5).

Which service gets web traffic is declared in the compose file: the label `io.fleetgate.proxy.port` names
the port the service listens on, `io.fleetgate.proxy.healthcheck.path` its health path (default `/up`).
The pushed repository must not reach outside its containers on the operator's servers, so host-level
options (bind mounts, privileged, host networking, devices, capabilities, published ports) are refused.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .commands import LABEL, Command, env_file_path, fleet_key
from .roles import labels_of

PORT_LABEL = "io.fleetgate.proxy.port"
HEALTH_PATH_LABEL = "io.fleetgate.proxy.healthcheck.path"
DEFAULT_HEALTH_PATH = "/up"
REFUSED = ("privileged", "network_mode", "pid", "ipc", "cap_add", "devices", "ports", "userns_mode")


class SpecError(ValueError):
    """The release's compose file asks for something a server rollout cannot do; says what to change."""


@dataclass(frozen=True)
class WebService:
    """The service behind the proxy: its name, the port it listens on, its health path."""

    name: str
    port: int
    health_path: str


def web_service(services: Mapping[str, Mapping[str, Any]]) -> WebService | None:
    """The one service labelled with `io.fleetgate.proxy.port`, None when no service is."""
    found = []
    for name, body in services.items():
        labels = labels_of(body)
        if PORT_LABEL not in labels:
            continue
        raw = labels[PORT_LABEL]
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise SpecError(f'service {name}: {PORT_LABEL} {raw!r} is not a port number; e.g. "8000"')
        path = labels.get(HEALTH_PATH_LABEL, DEFAULT_HEALTH_PATH)
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise SpecError(f"service {name}: {HEALTH_PATH_LABEL} {path!r} must be a path like /up")
        found.append(WebService(name, int(raw), path))
    if len(found) > 1:
        names = ", ".join(web.name for web in found)
        raise SpecError(f"services {names} all carry {PORT_LABEL}; the proxy sends traffic to one service")
    return found[0] if found else None


def environment_of(service: Mapping[str, Any], overlay: Mapping[str, str]) -> dict[str, str]:
    """The compose service's environment (mapping or list form) with the operator's variables on top."""
    raw = service.get("environment") or {}
    if isinstance(raw, Mapping):
        env = {str(k): "" if v is None else str(v) for k, v in raw.items()}
    else:
        env = {key: value for key, _, value in (str(item).partition("=") for item in raw)}
    env.update(overlay)
    return env


def _volume(slug: str, name: str, entry: Any) -> str:
    if isinstance(entry, Mapping):
        source, target = entry.get("source"), entry.get("target")
        if entry.get("type", "volume") != "volume" or not source or not target:
            raise SpecError(f"service {name}: only named volumes run on servers (got {dict(entry)})")
        return f"{fleet_key(slug)}_{source}:{target}"
    source, _, target = str(entry).partition(":")
    if not target or source.startswith((".", "/", "~")):
        raise SpecError(
            f"service {name}: volume {entry!r} is not a named volume; bind mounts stay on the host"
        )
    return f"{fleet_key(slug)}_{source}:{target}"


def _healthcheck(body: Mapping[str, Any]) -> list[str]:
    check = body.get("healthcheck")
    if not check or check.get("disable"):
        return []
    test = check.get("test")
    if isinstance(test, str):
        cmd = test
    elif test and test[0] == "CMD-SHELL":
        cmd = " ".join(test[1:])
    elif test and test[0] == "CMD":
        cmd = shlex.join(test[1:])
    else:
        return []
    args = ["--health-cmd", cmd]
    for key in ("interval", "timeout", "start_period"):
        if check.get(key):
            args += [f"--health-{key.replace('_', '-')}", str(check[key])]
    if check.get("retries"):
        args += ["--health-retries", str(check["retries"])]
    return args


def _command(service: str, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [str(part) for part in value]
    try:
        return shlex.split(value)
    except ValueError as error:  # an unclosed quote: the compose file's, said before any host is touched
        raise SpecError(f"service {service}: {key} {value!r} cannot be split into words: {error}") from None


def create(
    slug: str,
    release_hash: str,
    service: str,
    body: Mapping[str, Any],
    container: str,
    web: WebService | None,
    upstream_bind: str,
    network: bool = True,
) -> Command:
    """`docker create` for one service: the release's labels, its env file, the fleet's network."""
    for key in REFUSED:
        if body.get(key):
            raise SpecError(
                f"service {service}: {key!r} is not allowed on servers; remove it from the compose file"
            )
    image = body.get("image")
    if not image:
        raise SpecError(f"service {service} has no image in the release's composition")
    labels = {
        **labels_of(body),
        f"{LABEL}.managed": "1",
        f"{LABEL}.fleet": slug,
        f"{LABEL}.release": release_hash,
        f"{LABEL}.service": service,
    }
    argv = ["docker", "create", "--name", container, "--env-file", env_file_path(container)]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    argv += ["--restart", str(body.get("restart") or "unless-stopped")]
    if network:
        argv += ["--network", f"fleetgate-{fleet_key(slug)}", "--network-alias", service]
    if web is not None and web.name == service:
        argv += ["--publish", f"{upstream_bind}::{web.port}"]
    for entry in body.get("volumes") or []:
        argv += ["--volume", _volume(slug, service, entry)]
    for key, flag in (("user", "--user"), ("working_dir", "--workdir"), ("stop_signal", "--stop-signal")):
        if body.get(key):
            argv += [flag, str(body[key])]
    argv += _healthcheck(body)
    entrypoint = _command(service, "entrypoint", body.get("entrypoint"))
    if entrypoint:
        argv += ["--entrypoint", entrypoint[0]]
    argv.append(str(image))
    argv += entrypoint[1:] + _command(service, "command", body.get("command"))
    return Command(tuple(argv))


def check_services(slug: str, release_hash: str, services: Mapping[str, Mapping[str, Any]]) -> None:
    """Raise SpecError for the first service a server cannot run, before any host is touched.

    Every service of the release, whatever the servers' roles: a release is refused whole, not on the
    one host whose role happens to run the service.
    """
    web = web_service(services)
    for service, body in services.items():
        create(slug, release_hash, service, body, f"check_{service}", web, "127.0.0.1", len(services) > 1)
