"""Settings: the one place that reads the environment (DESIGN.md §6.9), and the settings file under it.

Every setting is a row of KNOWN: its environment variable, its default and whether it is a secret. A new
setting gets a row there (its key in `fleetgate.toml` and its line in `fleetgate config show` follow), and
is read in `load` with `values[NAME]`, which is the environment's value, else the file's, else the default.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .limits import Limits
from .log_lines import FORMATTERS
from .log_output import LEVELS, LogSetting
from .setting_sources import HOME, Known, Values, default_home, layers
from .setting_sources import SettingsError as SettingsError  # where every caller has always found it

# Debian's 20.10 client when it is there: the newer client on PATH refuses DOCKER_BUILDKIT=1 without buildx.
DEBIAN_DOCKER = "/usr/bin/docker"
RELEASES_KEPT = 5  # as kamal's retain_containers
PRUNE_INTERVAL = 86400.0  # daily
OFF = ("off", "0", "no", "false")


@dataclass(frozen=True)
class BuilderSetting:
    """A Docker endpoint that builds, as configured: name, URL (None: Docker's default), native arches."""

    name: str
    url: str | None
    arches: tuple[str, ...]


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


def _reachable(host: str) -> str:
    """A listen host as a URL's host: a wildcard is no address to connect to, the machine's name is."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    return f"[{host}]" if ":" in host else host


def _ssh_url(host: str, port: int) -> str:
    return f"ssh://git@{_reachable(host)}:{port}"


def _http_url(tls: bool, host: str, port: int) -> str:
    return f"{'https' if tls else 'http'}://{_reachable(host)}:{port}"


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
    # Where users reach the gateway (a NAT, a DNS name, a proxy); None: the listen addresses.
    public_ssh_url: str | None = None
    public_http_url: str | None = None
    docker_cli: str = DEBIAN_DOCKER  # an absolute path when found; "" when no client was found
    log: LogSetting = LogSetting()
    shutdown_grace: float = 30.0  # SIGTERM: how long running pushes may finish before they are interrupted
    min_free_bytes: int = 1 << 30  # GET /healthz: the repositories' disk is down below this
    notify_socket: str | None = None  # systemd's $NOTIFY_SOCKET (Type=notify): not a setting, systemd's
    # Releases whose images stay on build daemons, in the registry and on servers (kamal's retention,
    # the running one included); None: nothing is ever pruned. `serve` prunes every `prune_interval` s.
    releases_kept: int | None = RELEASES_KEPT
    prune_interval: float = PRUNE_INTERVAL  # 0: `serve` never prunes by itself

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

    def ssh_url(self, port: int | None = None) -> str:
        """`ssh://git@HOST:PORT`, users' remotes' base: FLEETGATE_PUBLIC_SSH_URL, else the listen address."""
        return self.public_ssh_url or _ssh_url(self.ssh_host, self.ssh_port if port is None else port)

    def http_url(self, port: int | None = None) -> str:
        """The HTTP API's URL for users and links: FLEETGATE_PUBLIC_HTTP_URL, else the listen address."""
        tls, port = self.http_cert is not None, self.http_port if port is None else port
        return self.public_http_url or _http_url(tls, self.http_host, port)


# ---- the table of settings ------------------------------------------------------------------------------


def _listen_ssh_url(v: Values) -> str:
    return _ssh_url(*_host_port(v["FLEETGATE_SSH_LISTEN"], "FLEETGATE_SSH_LISTEN"))


def _listen_http_url(v: Values) -> str:
    return _http_url(
        bool(v["FLEETGATE_HTTP_CERT"]), *_host_port(v["FLEETGATE_HTTP_LISTEN"], "FLEETGATE_HTTP_LISTEN")
    )


def _default_docker_cli(values: Values) -> str:
    if os.access(DEBIAN_DOCKER, os.X_OK):
        return DEBIAN_DOCKER
    return shutil.which("docker", path=values.environment.get("PATH", os.defpath)) or ""


_LIMITS, _ROLLOUT = Limits(), RolloutSetting()

KNOWN: tuple[Known, ...] = (
    Known(HOME, lambda v: str(v.home)),
    Known("FLEETGATE_DATABASE_URL", lambda v: f"sqlite:///{v.home / 'fleetgate.db'}", secret=True),
    Known("FLEETGATE_SSH_LISTEN", "127.0.0.1:2222"),
    Known("FLEETGATE_HTTP_LISTEN", "127.0.0.1:8080"),
    Known("FLEETGATE_PUBLIC_SSH_URL", _listen_ssh_url),
    Known("FLEETGATE_PUBLIC_HTTP_URL", _listen_http_url),
    Known("FLEETGATE_HTTP_CERT"),
    Known("FLEETGATE_HTTP_KEY"),
    Known("FLEETGATE_METRICS_TOKEN", secret=True),
    Known("FLEETGATE_REGISTRY"),
    Known("FLEETGATE_REGISTRY_USER"),
    Known("FLEETGATE_REGISTRY_PASSWORD", secret=True),
    Known("FLEETGATE_REGISTRY_AUTH", "basic"),
    Known("FLEETGATE_REGISTRY_TOKEN_SERVICE", lambda v: v["FLEETGATE_REGISTRY"] or "fleetgate"),
    Known("FLEETGATE_REGISTRY_TOKEN_ISSUER", "fleetgate"),
    Known("DOCKER_HOST"),
    Known("FLEETGATE_DOCKER_CLI", _default_docker_cli),
    Known("FLEETGATE_BUILDERS"),
    Known("FLEETGATE_NODE_IMAGE", "balenalib/{machine}-node:{version}"),
    Known("FLEETGATE_NODE_ID", lambda v: socket.gethostname()),
    Known("FLEETGATE_BUILD_TIMEOUT", "3600"),
    Known("FLEETGATE_BUILD_IDLE_TIMEOUT", "600"),
    Known("FLEETGATE_DEVICE_WAIT", "600"),
    Known("FLEETGATE_MAX_PACK_BYTES", str(_LIMITS.pack_bytes)),
    Known("FLEETGATE_MAX_OBJECT_BYTES", str(_LIMITS.object_bytes)),
    Known("FLEETGATE_MAX_OBJECTS", str(_LIMITS.object_count)),
    Known("FLEETGATE_MAX_TREE_DEPTH", str(_LIMITS.tree_depth)),
    Known("FLEETGATE_MAX_PATH_BYTES", str(_LIMITS.path_bytes)),
    Known("FLEETGATE_LOCK_WAIT", str(int(_LIMITS.lock_wait_seconds))),
    Known("FLEETGATE_LOGIN_TIMEOUT", str(int(_LIMITS.login_timeout))),
    Known("FLEETGATE_MAX_AUTH_TRIES", str(_LIMITS.auth_attempts)),
    Known("FLEETGATE_MAX_SESSIONS", str(_LIMITS.sessions_per_connection)),
    Known("FLEETGATE_MAX_STARTUPS", str(_LIMITS.unauthenticated_connections)),
    Known("FLEETGATE_KEEPALIVE", str(int(_LIMITS.keepalive_interval))),
    Known("FLEETGATE_WORKERS", str(_LIMITS.workers)),
    Known("FLEETGATE_UNPACK_WORKERS", str(_LIMITS.unpack_workers)),
    Known("FLEETGATE_PROGRESS_INTERVAL", f"{_LIMITS.progress_interval:g}"),
    Known("FLEETGATE_PROXY_IMAGE", _ROLLOUT.proxy_image),
    Known("FLEETGATE_PROXY_HTTP_PORT", str(_ROLLOUT.http_port)),
    Known("FLEETGATE_PROXY_HTTPS_PORT", str(_ROLLOUT.https_port)),
    Known("FLEETGATE_PROXY_BIND", _ROLLOUT.proxy_bind),
    Known("FLEETGATE_UPSTREAM_BIND", _ROLLOUT.upstream_bind),
    Known("FLEETGATE_HEALTH_TIMEOUT", str(int(_ROLLOUT.health_timeout))),
    Known("FLEETGATE_DRAIN_TIMEOUT", str(int(_ROLLOUT.drain_timeout))),
    Known("FLEETGATE_READINESS_DELAY", str(int(_ROLLOUT.readiness_delay))),
    Known("FLEETGATE_ROLLOUT_PARALLEL", str(_ROLLOUT.parallel)),
    Known("FLEETGATE_RELEASES_KEPT", str(RELEASES_KEPT)),
    Known("FLEETGATE_PRUNE_INTERVAL", str(int(PRUNE_INTERVAL))),
    Known("FLEETGATE_LOG_LEVEL", "info"),
    Known("FLEETGATE_LOG_FORMAT", "text"),
    Known("FLEETGATE_LOG_FILE"),
    Known("FLEETGATE_SHUTDOWN_GRACE", "30"),
    Known("FLEETGATE_MIN_FREE_BYTES", str(1 << 30)),
)
_BY_NAME = {known.name: known for known in KNOWN}


def values(env: Mapping[str, str] | None = None) -> Values:
    """Every setting's value from the environment (or `env`) and the settings file in the home it names."""
    env = dict(os.environ if env is None else env)
    home = Path(env.get(HOME) or default_home(env)).absolute()
    return Values(env, home, layers(env, home, _BY_NAME), _BY_NAME)


def effective(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every setting's value as read now, by name (what SIGHUP compares to tell what changed)."""
    found = values(env)
    return {known.name: found[known.name] for known in KNOWN}


# ---- parsing ---------------------------------------------------------------------------------------------


def _host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "aarch64", "armv7l": "armv7hf", "i686": "i386"}.get(
        machine, machine
    )


def _builders(v: Values) -> tuple[BuilderSetting, ...]:
    """`FLEETGATE_BUILDERS="name=URL;arch,arch name2=URL;arch"`; by default one builder, DOCKER_HOST."""
    raw = v["FLEETGATE_BUILDERS"].split()
    if not raw:
        return (BuilderSetting("default", v["DOCKER_HOST"] or None, (_host_arch(),)),)
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


def _host_port(value: str, name: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{name}={value!r} is not HOST:PORT; set it like 127.0.0.1:2222")
    return host.strip("[]") or "127.0.0.1", int(port)


def _int(v: Values, name: str) -> int:
    raw = v[name]
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None


def _at_least_0(v: Values, name: str) -> int:
    value = _int(v, name)
    if value < 0:
        raise SettingsError(f"{name}={value} is below 0; set it to 0 or more")
    return value


def _seconds(v: Values, name: str) -> float:
    raw = v[name]
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name}={raw!r} is not a number of seconds above 0, such as 4 or 0.5")
    return value


def _public_url(v: Values, name: str, schemes: tuple[str, ...], example: str) -> str | None:
    """A URL users reach the gateway at, without a trailing slash; None when unset."""
    raw = v.sources.get(name)
    if raw is None:
        return None
    url = urllib.parse.urlsplit(raw)
    try:
        url.port  # noqa: B018  # raises ValueError on a port that is no port
        wrong = url.scheme not in schemes or not url.hostname or bool(url.query or url.fragment)
    except ValueError:
        wrong = True
    if wrong or (url.scheme == "ssh" and url.path.strip("/")):
        form = "ssh://[USER@]HOST[:PORT]" if "ssh" in schemes else "http[s]://HOST[:PORT][/PATH]"
        raise SettingsError(f"{name}={raw!r} is not {form}; e.g. {example}")
    return raw.rstrip("/")


def _docker_cli(v: Values) -> str:
    """The Docker client as an absolute path; as configured when not found (the build's error names it)."""
    configured = v["FLEETGATE_DOCKER_CLI"]
    if not configured:
        return ""
    found = shutil.which(configured, path=v.environment.get("PATH", os.defpath))
    return str(Path(found).absolute()) if found else configured


def _limits(v: Values) -> Limits:
    return Limits(
        pack_bytes=_int(v, "FLEETGATE_MAX_PACK_BYTES"),
        object_bytes=_int(v, "FLEETGATE_MAX_OBJECT_BYTES"),
        object_count=_int(v, "FLEETGATE_MAX_OBJECTS"),
        tree_depth=_int(v, "FLEETGATE_MAX_TREE_DEPTH"),
        path_bytes=_int(v, "FLEETGATE_MAX_PATH_BYTES"),
        lock_wait_seconds=float(_int(v, "FLEETGATE_LOCK_WAIT")),
        login_timeout=float(_int(v, "FLEETGATE_LOGIN_TIMEOUT")),
        auth_attempts=_int(v, "FLEETGATE_MAX_AUTH_TRIES"),
        sessions_per_connection=_int(v, "FLEETGATE_MAX_SESSIONS"),
        unauthenticated_connections=_int(v, "FLEETGATE_MAX_STARTUPS"),
        keepalive_interval=float(_int(v, "FLEETGATE_KEEPALIVE")),
        workers=_int(v, "FLEETGATE_WORKERS"),
        unpack_workers=_int(v, "FLEETGATE_UNPACK_WORKERS"),
        progress_interval=_seconds(v, "FLEETGATE_PROGRESS_INTERVAL"),
    )


def load(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from the environment (or the mapping given, for tests) over the settings file."""
    found = values(env)
    try:
        return _settings(found)
    except SettingsError as error:
        raise found.sources.blame(error) from None


def _settings(v: Values) -> Settings:
    ssh_host, ssh_port = _host_port(v["FLEETGATE_SSH_LISTEN"], "FLEETGATE_SSH_LISTEN")
    http_host, http_port = _host_port(v["FLEETGATE_HTTP_LISTEN"], "FLEETGATE_HTTP_LISTEN")
    return Settings(
        home=v.home,
        database_url=v["FLEETGATE_DATABASE_URL"],
        ssh_host=ssh_host,
        ssh_port=ssh_port,
        http_host=http_host,
        http_port=http_port,
        registry=v["FLEETGATE_REGISTRY"],
        registry_user=v["FLEETGATE_REGISTRY_USER"] or None,
        registry_password=v["FLEETGATE_REGISTRY_PASSWORD"] or None,
        node_image=v["FLEETGATE_NODE_IMAGE"],
        limits=_limits(v),
        builders=_builders(v),
        docker_host=v["DOCKER_HOST"] or None,
        node_id=v["FLEETGATE_NODE_ID"],
        build_timeout=float(_int(v, "FLEETGATE_BUILD_TIMEOUT")),
        build_idle_timeout=float(_int(v, "FLEETGATE_BUILD_IDLE_TIMEOUT")),
        device_wait=float(_int(v, "FLEETGATE_DEVICE_WAIT")),
        **_http_tls(v),
        metrics_token=v["FLEETGATE_METRICS_TOKEN"] or None,
        **_registry_token(v),
        rollout=_rollout(v),
        public_ssh_url=_public_url(v, "FLEETGATE_PUBLIC_SSH_URL", ("ssh",), "ssh://git@gw.example.org:2222"),
        public_http_url=_public_url(
            v, "FLEETGATE_PUBLIC_HTTP_URL", ("http", "https"), "https://gw.example.org"
        ),
        docker_cli=_docker_cli(v),
        log=_log(v),
        shutdown_grace=float(_at_least_0(v, "FLEETGATE_SHUTDOWN_GRACE")),
        min_free_bytes=_at_least_0(v, "FLEETGATE_MIN_FREE_BYTES"),
        notify_socket=v.environment.get("NOTIFY_SOCKET") or None,
        **_prune(v),
    )


def _log(v: Values) -> LogSetting:
    """`FLEETGATE_LOG_LEVEL`, `FLEETGATE_LOG_FORMAT` and `FLEETGATE_LOG_FILE`."""
    level, form = v["FLEETGATE_LOG_LEVEL"].lower(), v["FLEETGATE_LOG_FORMAT"].lower()
    if level not in LEVELS:
        raise SettingsError(f"FLEETGATE_LOG_LEVEL={level!r} is none of {', '.join(LEVELS)}")
    if form not in FORMATTERS:
        raise SettingsError(f"FLEETGATE_LOG_FORMAT={form!r} is neither text nor json")
    file = v["FLEETGATE_LOG_FILE"]
    return LogSetting(level, form, Path(file).absolute() if file else None)


def _http_tls(v: Values) -> dict[str, Path | None]:
    """`FLEETGATE_HTTP_CERT` and `FLEETGATE_HTTP_KEY` (PEM files): both or neither."""
    cert, key = v["FLEETGATE_HTTP_CERT"] or None, v["FLEETGATE_HTTP_KEY"] or None
    if (cert is None) != (key is None):
        raise SettingsError(
            "set both FLEETGATE_HTTP_CERT and FLEETGATE_HTTP_KEY (PEM certificate and its private key), "
            "or neither"
        )
    return {
        "http_cert": Path(cert).absolute() if cert else None,
        "http_key": Path(key).absolute() if key else None,
    }


def _rollout(v: Values) -> RolloutSetting:
    """`FLEETGATE_PROXY_*`, `FLEETGATE_UPSTREAM_BIND`, `FLEETGATE_HEALTH_TIMEOUT`, … for server rollouts."""
    setting = RolloutSetting(
        proxy_image=v["FLEETGATE_PROXY_IMAGE"],
        http_port=_int(v, "FLEETGATE_PROXY_HTTP_PORT"),
        https_port=_int(v, "FLEETGATE_PROXY_HTTPS_PORT"),
        proxy_bind=v["FLEETGATE_PROXY_BIND"],
        upstream_bind=v["FLEETGATE_UPSTREAM_BIND"],
        health_timeout=float(_int(v, "FLEETGATE_HEALTH_TIMEOUT")),
        drain_timeout=float(_int(v, "FLEETGATE_DRAIN_TIMEOUT")),
        readiness_delay=float(_int(v, "FLEETGATE_READINESS_DELAY")),
        parallel=_int(v, "FLEETGATE_ROLLOUT_PARALLEL"),
    )
    if setting.parallel < 1 or setting.health_timeout <= 0:
        raise SettingsError(
            "FLEETGATE_ROLLOUT_PARALLEL and FLEETGATE_HEALTH_TIMEOUT must be whole numbers of at least 1"
        )
    if setting.drain_timeout < 0 or setting.readiness_delay < 0:
        raise SettingsError("FLEETGATE_DRAIN_TIMEOUT and FLEETGATE_READINESS_DELAY must be 0 or more seconds")
    return setting


def _prune(v: Values) -> dict[str, int | float | None]:
    """`FLEETGATE_RELEASES_KEPT` (releases, or off) and `FLEETGATE_PRUNE_INTERVAL` (seconds, or off)."""
    raw_kept, raw_interval = v["FLEETGATE_RELEASES_KEPT"], v["FLEETGATE_PRUNE_INTERVAL"]
    kept, interval = raw_kept.strip().lower(), raw_interval.strip().lower()
    if kept not in OFF and not (kept.isdigit() and int(kept) >= 1):
        raise SettingsError(
            f"FLEETGATE_RELEASES_KEPT={raw_kept!r} is neither a number of releases (at least 1) nor off"
        )
    if interval not in OFF and not interval.isdigit():
        raise SettingsError(
            f"FLEETGATE_PRUNE_INTERVAL={raw_interval!r} is neither seconds (e.g. 86400) nor off"
        )
    return {
        "releases_kept": None if kept in OFF else int(kept),
        "prune_interval": 0.0 if interval in OFF else float(interval),
    }


def _registry_token(v: Values) -> dict[str, str]:
    """`FLEETGATE_REGISTRY_AUTH` (basic|token) and, for token, the service and issuer names."""
    auth = v["FLEETGATE_REGISTRY_AUTH"].lower()
    if auth not in ("basic", "token"):
        raise SettingsError(f"FLEETGATE_REGISTRY_AUTH={auth!r} is neither basic nor token")
    if auth == "token" and not (
        v["FLEETGATE_REGISTRY"] and v["FLEETGATE_REGISTRY_USER"] and v["FLEETGATE_REGISTRY_PASSWORD"]
    ):
        raise SettingsError(
            "FLEETGATE_REGISTRY_AUTH=token needs FLEETGATE_REGISTRY, FLEETGATE_REGISTRY_USER and "
            "FLEETGATE_REGISTRY_PASSWORD (the operator account the builds push with)"
        )
    return {
        "registry_auth": auth,
        # The registry's `auth.token.service`: by default the registry's host:port, as Docker Hub names it.
        "registry_token_service": v["FLEETGATE_REGISTRY_TOKEN_SERVICE"],
        "registry_token_issuer": v["FLEETGATE_REGISTRY_TOKEN_ISSUER"],
    }
