"""Settings: the one place that reads the environment (DESIGN.md §6.9)."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass
from pathlib import Path

from .limits import Limits


class SettingsError(ValueError):
    """The operator's configuration is invalid."""


@dataclass(frozen=True)
class BuilderSetting:
    """A Docker endpoint that builds, as configured: name, URL (None: Docker's default), native arches."""

    name: str
    url: str | None
    arches: tuple[str, ...]


def _host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "aarch64", "armv7l": "armv7hf", "i686": "i386"}.get(
        machine, machine
    )


def _builders(env: dict[str, str]) -> tuple[BuilderSetting, ...]:
    """`FLEETGATE_BUILDERS="name=URL;arch,arch name2=URL;arch"`; by default one builder, DOCKER_HOST."""
    raw = env.get("FLEETGATE_BUILDERS", "").split()
    if not raw:
        return (BuilderSetting("default", env.get("DOCKER_HOST") or None, (_host_arch(),)),)
    builders = []
    for item in raw:
        name, eq, rest = item.partition("=")
        url, semi, arches = rest.rpartition(";")
        if not eq or not semi or not name or not url or not arches:
            raise SettingsError(
                f"FLEETGATE_BUILDERS item {item!r} is not NAME=URL;ARCH[,ARCH]; "
                "e.g. default=unix:///var/run/docker.sock;amd64"
            )
        builders.append(BuilderSetting(name, url, tuple(arches.split(","))))
    return tuple(builders)


@dataclass(frozen=True)
class RolloutSetting:
    """How releases roll out to servers (issue 5); the names are RolloutOptions' in fleetgate.deploy."""

    proxy_image: str = "fleetgate-proxy:2.6"
    http_port: int = 80
    https_port: int = 443
    proxy_bind: str = ""  # the proxy's listen address on each server; "" all, "{host}" its SSH host
    upstream_bind: str = "127.0.0.1"
    health_timeout: float = 60.0
    drain_timeout: float = 30.0
    readiness_delay: float = 7.0  # a service without a health check must keep running this long
    parallel: int = 4  # servers rolled out at once after the canary
    keep: int = 5  # releases kept on each server beyond the running one


@dataclass(frozen=True)
class Settings:
    """Everything fleetgate needs from its operator, read once at start."""

    home: Path
    database_url: str
    ssh_host: str
    ssh_port: int
    http_host: str
    http_port: int
    registry: str
    registry_user: str | None
    registry_password: str | None
    node_image: str
    limits: Limits
    builders: tuple[BuilderSetting, ...]
    docker_host: str | None
    node_id: str
    build_timeout: float
    build_idle_timeout: float
    device_wait: float = 600.0  # `git push -o wait=devices`: how long the push waits for the devices
    http_cert: Path | None = None
    http_key: Path | None = None
    metrics_token: str | None = None
    # "token": fleetgate is the registry's token server (deploy/registry_token.py); "basic": htpasswd.
    registry_auth: str = "basic"
    registry_token_service: str = "fleetgate"
    registry_token_issuer: str = "fleetgate"
    rollout: RolloutSetting = RolloutSetting()

    @property
    def repositories(self) -> Path:
        """Where the fleets' bare repositories live, one per fleet id."""
        return self.home / "repositories"

    @property
    def host_key_path(self) -> Path:
        """The gateway's persistent ed25519 host key."""
        return self.home / "ssh_host_ed25519_key"

    @property
    def registry_token_key_path(self) -> Path:
        """The private key that signs registry tokens (made on first start, 0600)."""
        return self.home / "registry_token_key.pem"

    @property
    def registry_token_cert_path(self) -> Path:
        """Its self-signed certificate: the registry's `auth.token.rootcertbundle`."""
        return self.home / "registry_token_cert.pem"

    @property
    def known_hosts_path(self) -> Path:
        """The server host keys the operator accepted (`fleetgate server trust`), OpenSSH's format."""
        return self.home / "known_hosts"


def _host_port(value: str, name: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{name}={value!r} is not HOST:PORT; set it like 127.0.0.1:2222")
    return host.strip("[]") or "127.0.0.1", int(port)


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None


def _limits(env: dict[str, str]) -> Limits:
    d = Limits()
    return Limits(
        pack_bytes=_int(env, "FLEETGATE_MAX_PACK_BYTES", d.pack_bytes),
        object_bytes=_int(env, "FLEETGATE_MAX_OBJECT_BYTES", d.object_bytes),
        object_count=_int(env, "FLEETGATE_MAX_OBJECTS", d.object_count),
        tree_depth=_int(env, "FLEETGATE_MAX_TREE_DEPTH", d.tree_depth),
        path_bytes=_int(env, "FLEETGATE_MAX_PATH_BYTES", d.path_bytes),
        lock_wait_seconds=float(_int(env, "FLEETGATE_LOCK_WAIT", int(d.lock_wait_seconds))),
        login_timeout=float(_int(env, "FLEETGATE_LOGIN_TIMEOUT", int(d.login_timeout))),
        auth_attempts=_int(env, "FLEETGATE_MAX_AUTH_TRIES", d.auth_attempts),
        sessions_per_connection=_int(env, "FLEETGATE_MAX_SESSIONS", d.sessions_per_connection),
        unauthenticated_connections=_int(env, "FLEETGATE_MAX_STARTUPS", d.unauthenticated_connections),
        keepalive_interval=float(_int(env, "FLEETGATE_KEEPALIVE", int(d.keepalive_interval))),
        workers=_int(env, "FLEETGATE_WORKERS", d.workers),
        unpack_workers=_int(env, "FLEETGATE_UNPACK_WORKERS", d.unpack_workers),
    )


def load(env: dict[str, str] | None = None) -> Settings:
    """Read settings from the environment (or the mapping given, for tests)."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get("FLEETGATE_HOME") or "./.fleetgate").absolute()
    ssh_host, ssh_port = _host_port(
        env.get("FLEETGATE_SSH_LISTEN") or "127.0.0.1:2222", "FLEETGATE_SSH_LISTEN"
    )
    http_host, http_port = _host_port(
        env.get("FLEETGATE_HTTP_LISTEN") or "127.0.0.1:8080", "FLEETGATE_HTTP_LISTEN"
    )
    return Settings(
        home=home,
        database_url=env.get("FLEETGATE_DATABASE_URL") or f"sqlite:///{home / 'fleetgate.db'}",
        ssh_host=ssh_host,
        ssh_port=ssh_port,
        http_host=http_host,
        http_port=http_port,
        registry=env.get("FLEETGATE_REGISTRY", ""),
        registry_user=env.get("FLEETGATE_REGISTRY_USER") or None,
        registry_password=env.get("FLEETGATE_REGISTRY_PASSWORD") or None,
        node_image=env.get("FLEETGATE_NODE_IMAGE") or "balenalib/{machine}-node:{version}",
        limits=_limits(env),
        builders=_builders(env),
        docker_host=env.get("DOCKER_HOST") or None,
        node_id=env.get("FLEETGATE_NODE_ID") or socket.gethostname(),
        build_timeout=float(_int(env, "FLEETGATE_BUILD_TIMEOUT", 3600)),
        build_idle_timeout=float(_int(env, "FLEETGATE_BUILD_IDLE_TIMEOUT", 600)),
        device_wait=float(_int(env, "FLEETGATE_DEVICE_WAIT", 600)),
        **_http_tls(env),
        metrics_token=env.get("FLEETGATE_METRICS_TOKEN") or None,
        **_registry_token(env),
        rollout=_rollout(env),
    )


def _http_tls(env: dict[str, str]) -> dict[str, Path | None]:
    """`FLEETGATE_HTTP_CERT` and `FLEETGATE_HTTP_KEY` (PEM files): both or neither."""
    cert, key = env.get("FLEETGATE_HTTP_CERT") or None, env.get("FLEETGATE_HTTP_KEY") or None
    if (cert is None) != (key is None):
        raise SettingsError(
            "set both FLEETGATE_HTTP_CERT and FLEETGATE_HTTP_KEY (PEM certificate and its private key), "
            "or neither"
        )
    return {
        "http_cert": Path(cert).absolute() if cert else None,
        "http_key": Path(key).absolute() if key else None,
    }


def _rollout(env: dict[str, str]) -> RolloutSetting:
    """`FLEETGATE_PROXY_*`, `FLEETGATE_UPSTREAM_BIND`, `FLEETGATE_HEALTH_TIMEOUT`, … for server rollouts."""
    d = RolloutSetting()
    setting = RolloutSetting(
        proxy_image=env.get("FLEETGATE_PROXY_IMAGE") or d.proxy_image,
        http_port=_int(env, "FLEETGATE_PROXY_HTTP_PORT", d.http_port),
        https_port=_int(env, "FLEETGATE_PROXY_HTTPS_PORT", d.https_port),
        proxy_bind=env.get("FLEETGATE_PROXY_BIND", d.proxy_bind),
        upstream_bind=env.get("FLEETGATE_UPSTREAM_BIND") or d.upstream_bind,
        health_timeout=float(_int(env, "FLEETGATE_HEALTH_TIMEOUT", int(d.health_timeout))),
        drain_timeout=float(_int(env, "FLEETGATE_DRAIN_TIMEOUT", int(d.drain_timeout))),
        readiness_delay=float(_int(env, "FLEETGATE_READINESS_DELAY", int(d.readiness_delay))),
        parallel=_int(env, "FLEETGATE_ROLLOUT_PARALLEL", d.parallel),
        keep=_int(env, "FLEETGATE_RELEASES_KEPT", d.keep),
    )
    if setting.parallel < 1 or setting.keep < 1 or setting.health_timeout <= 0:
        raise SettingsError(
            "FLEETGATE_ROLLOUT_PARALLEL, FLEETGATE_RELEASES_KEPT and FLEETGATE_HEALTH_TIMEOUT "
            "must be whole numbers of at least 1"
        )
    if setting.drain_timeout < 0 or setting.readiness_delay < 0:
        raise SettingsError("FLEETGATE_DRAIN_TIMEOUT and FLEETGATE_READINESS_DELAY must be 0 or more seconds")
    return setting


def _registry_token(env: dict[str, str]) -> dict[str, str]:
    """`FLEETGATE_REGISTRY_AUTH` (basic|token) and, for token, the service and issuer names."""
    auth = (env.get("FLEETGATE_REGISTRY_AUTH") or "basic").lower()
    if auth not in ("basic", "token"):
        raise SettingsError(f"FLEETGATE_REGISTRY_AUTH={auth!r} is neither basic nor token")
    if auth == "token" and not (
        env.get("FLEETGATE_REGISTRY")
        and env.get("FLEETGATE_REGISTRY_USER")
        and env.get("FLEETGATE_REGISTRY_PASSWORD")
    ):
        raise SettingsError(
            "FLEETGATE_REGISTRY_AUTH=token needs FLEETGATE_REGISTRY, FLEETGATE_REGISTRY_USER and "
            "FLEETGATE_REGISTRY_PASSWORD (the operator account the builds push with)"
        )
    return {
        "registry_auth": auth,
        # The registry's `auth.token.service`: by default the registry's host:port, as Docker Hub names it.
        "registry_token_service": env.get("FLEETGATE_REGISTRY_TOKEN_SERVICE")
        or env.get("FLEETGATE_REGISTRY")
        or "fleetgate",
        "registry_token_issuer": env.get("FLEETGATE_REGISTRY_TOKEN_ISSUER") or "fleetgate",
    }
