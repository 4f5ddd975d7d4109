"""Container config: a service of the target as docker-compose (and balena's supervisor) would create it.

Pure: it returns the keyword arguments of the Docker SDK's `containers.create` and the extra networks
to connect, so the mapping from compose keys to Docker is a table test. Bind mounts of host paths in
the composition are refused, as balena refuses them: the host is reached through the
`io.balena.features.*` labels only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..device_state import ServiceTarget, TargetState, labels_of, network_name

LOCK_MOUNTS = ("/tmp/balena", "/tmp/resin")
ENGINE_SOCKET = "/var/run/balena-engine.sock"  # where balena puts the engine's socket in a container
DBUS_ADDRESS = "unix:path=/host/run/dbus/system_bus_socket"
# label -> the host paths it binds (host:container[:mode]), as balena's supervisor does.
FEATURE_BINDS: Mapping[str, tuple[str, ...]] = {
    "io.balena.features.kernel-modules": ("/lib/modules:/lib/modules:ro",),
    "io.balena.features.firmware": ("/lib/firmware:/lib/firmware",),
    "io.balena.features.dbus": ("/run/dbus:/host/run/dbus",),
    "io.balena.features.sysfs": ("/sys:/sys",),
    "io.balena.features.procfs": ("/proc:/proc",),
    "io.balena.features.journal-logs": (
        "/var/log/journal:/var/log/journal:ro",
        "/etc/machine-id:/etc/machine-id:ro",
    ),
}
# compose key -> Docker SDK keyword, for the keys that map one to one.
SAME = {
    "command": "command",
    "entrypoint": "entrypoint",
    "working_dir": "working_dir",
    "user": "user",
    "hostname": "hostname",
    "domainname": "domainname",
    "privileged": "privileged",
    "tty": "tty",
    "stdin_open": "stdin_open",
    "cap_add": "cap_add",
    "cap_drop": "cap_drop",
    "devices": "devices",
    "dns": "dns",
    "dns_search": "dns_search",
    "security_opt": "security_opt",
    "group_add": "group_add",
    "shm_size": "shm_size",
    "mem_limit": "mem_limit",
    "init": "init",
    "read_only": "read_only",
    "stop_signal": "stop_signal",
    "sysctls": "sysctls",
    "cpu_shares": "cpu_shares",
    "oom_kill_disable": "oom_kill_disable",
}


class ComposeServiceError(ValueError):
    """A compose key of the release cannot be applied on a device; the pusher must change it."""


@dataclass(frozen=True)
class Device:
    """What the agent knows of itself, for balena's variables and the feature labels."""

    uuid: str
    name: str
    device_type: str
    arch: str
    fleet_id: int
    fleet_name: str
    api_url: str
    api_key: str
    lock_root: str  # host folder with one lock folder per service
    docker_socket: str | None  # host path of the engine's socket, when it is a unix socket
    version: str


@dataclass(frozen=True)
class ContainerConfig:
    """`create` for `containers.create(**create)`; then connect `networks` (name, aliases)."""

    create: dict[str, Any]
    networks: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _environment(compose: Mapping[str, Any]) -> dict[str, str]:
    env = compose.get("environment") or {}
    if isinstance(env, list):
        return {k: v for k, _, v in (str(item).partition("=") for item in env)}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def balena_environment(service: str, device: Device, labels: Mapping[str, str]) -> dict[str, str]:
    """The variables balena's supervisor sets in every container (with the RESIN_ twins)."""
    env = {
        "BALENA": "1",
        "BALENA_APP_ID": str(device.fleet_id),
        "BALENA_APP_NAME": device.fleet_name,
        "BALENA_SERVICE_NAME": service,
        "BALENA_DEVICE_UUID": device.uuid,
        "BALENA_DEVICE_NAME_AT_INIT": device.name,
        "BALENA_DEVICE_TYPE": device.device_type,
        "BALENA_DEVICE_ARCH": device.arch,
        "BALENA_HOST_OS_VERSION": f"fleetgate {device.version}",
        "BALENA_SUPERVISOR_VERSION": device.version,
        "BALENA_APP_LOCK_PATH": "/tmp/balena/updates.lock",
        "BALENA_SERVICE_HANDOVER_COMPLETE_PATH": "/tmp/balena/handover-complete",
    }
    if _truthy(labels.get("io.balena.features.balena-api")):
        env |= {"BALENA_API_URL": device.api_url, "BALENA_API_KEY": device.api_key}
    if _truthy(labels.get("io.balena.features.balena-socket")) and device.docker_socket:
        env["DOCKER_HOST"] = f"unix://{ENGINE_SOCKET}"
    env |= {"RESIN" + k[len("BALENA") :]: v for k, v in env.items() if k.startswith("BALENA")}
    if _truthy(labels.get("io.balena.features.dbus")):
        env["DBUS_SYSTEM_BUS_ADDRESS"] = DBUS_ADDRESS
    return env


def _restart(value: Any) -> dict[str, Any]:
    name, _, count = str(value or "no").partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise ComposeServiceError(f"restart: {value!r} is not no, always, on-failure or unless-stopped")
    policy: dict[str, Any] = {"Name": "" if name == "no" else name}
    if name == "on-failure" and count.isdigit():
        policy["MaximumRetryCount"] = int(count)
    return policy


def _ports(value: Any) -> dict[str, Any]:
    ports: dict[str, Any] = {}
    for item in value or ():
        if isinstance(item, Mapping):
            key = f"{item['target']}/{item.get('protocol', 'tcp')}"
            ports[key] = item.get("published")
            continue
        spec, _, proto = str(item).partition("/")
        parts = spec.rsplit(":", 2)
        key = f"{parts[-1]}/{proto or 'tcp'}"
        if len(parts) == 1:
            ports[key] = None
        elif len(parts) == 2:
            ports[key] = int(parts[0]) if parts[0] else None
        else:
            ports[key] = (parts[0], int(parts[1])) if parts[1] else (parts[0],)
    return ports


def _volumes(value: Any, fleet_id: int) -> list[str]:
    binds = []
    for item in value or ():
        if isinstance(item, Mapping):
            if item.get("type", "volume") != "volume" or not item.get("source"):
                raise ComposeServiceError(f"volumes: {item!r}: only named volumes are allowed on devices")
            mode = "ro" if item.get("read_only") else "rw"
            binds.append(f"{network_name(fleet_id, item['source'])}:{item['target']}:{mode}")
            continue
        source, _, rest = str(item).partition(":")
        if not rest:
            continue  # an anonymous volume: Docker makes one from the image's VOLUME
        if source.startswith(("/", ".", "~")):
            raise ComposeServiceError(
                f"volumes: {item!r} binds a host path, which devices refuse; "
                "use a named volume or an io.balena.features label"
            )
        binds.append(f"{network_name(fleet_id, source)}:{rest}")
    return binds


def _networks(compose: Mapping[str, Any], service: str, fleet_id: int) -> list[tuple[str, tuple[str, ...]]]:
    value = compose.get("networks") or ["default"]
    items = value.items() if isinstance(value, Mapping) else ((n, None) for n in value)
    out = []
    for name, spec in items:
        aliases = tuple((spec or {}).get("aliases") or ()) if isinstance(spec, Mapping) else ()
        out.append((network_name(fleet_id, str(name)), (service, *aliases)))
    return out


def container_config(
    service: ServiceTarget, target: TargetState, device: Device, name: str, host_paths: frozenset[str]
) -> ContainerConfig:
    """How to create the container `name` of `service`; host bind mounts only where the host has the path."""
    compose = service.compose
    labels = labels_of(compose)
    binds = _volumes(compose.get("volumes"), target.fleet_id)
    binds += [f"{device.lock_root}/{service.name}:{inside}" for inside in LOCK_MOUNTS]
    for label, mounts in FEATURE_BINDS.items():
        if _truthy(labels.get(label)):
            binds += [m for m in mounts if m.split(":")[0] in host_paths]
    if _truthy(labels.get("io.balena.features.balena-socket")) and device.docker_socket:
        binds.append(f"{device.docker_socket}:{ENGINE_SOCKET}")
    environment = balena_environment(service.name, device, labels)
    environment |= _environment(compose) | dict(service.environment)
    create: dict[str, Any] = {
        "image": service.image,
        "name": name,
        "detach": True,
        "labels": labels
        | {
            "io.fleetgate.managed": "1",
            "io.fleetgate.release": target.release or "",
            "io.fleetgate.service": service.name,
            "io.fleetgate.fleet": target.fleet_slug,
            "io.fleetgate.device": device.uuid,
            "io.fleetgate.config-hash": service.config_hash,
            "io.fleetgate.image": service.image,
        },
        "environment": environment,
        "volumes": binds,
        "restart_policy": _restart(compose.get("restart")),
    }
    create |= {sdk: compose[key] for key, sdk in SAME.items() if key in compose}
    if compose.get("ports"):
        create["ports"] = _ports(compose["ports"])
    if isinstance(compose.get("extra_hosts"), list):
        create["extra_hosts"] = dict(str(h).split(":", 1) for h in compose["extra_hosts"])
    if compose.get("tmpfs"):
        tmpfs = compose["tmpfs"]
        create["tmpfs"] = {t: "" for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)}
    mode = compose.get("network_mode")
    if mode:
        create["network_mode"] = str(mode)
        return ContainerConfig(create)
    networks = _networks(compose, service.name, target.fleet_id)
    first, aliases = networks[0]
    create["network"] = first
    create["networking_config"] = {first: {"Aliases": list(aliases)}}
    return ContainerConfig(create, tuple(networks[1:]))
