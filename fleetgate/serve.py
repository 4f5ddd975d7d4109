"""The gateway process: composes gitd, the receive pipeline and the build core from settings."""

from __future__ import annotations

import logging
import os

from . import daily_prune, health_probes, listeners
from .db import Database
from .health_probes import Health
from .log_output import LogOutput
from .settings import Settings, SettingsError

log = logging.getLogger("fleetgate")


def _pipeline(settings: Settings, database: Database):
    from fleetgate.build.nodejs import NodeSettings
    from fleetgate.build.plan import Builder
    from fleetgate.build.publish import Registry
    from fleetgate.build.release import BuildSettings
    from fleetgate.hooks.build_pipeline import BuildPipeline, PipelineConfig

    registry = None
    if settings.registry:
        registry = Registry(settings.registry, settings.registry_user, settings.registry_password)
    build = BuildSettings(
        builders=tuple(Builder(b.name, b.url, frozenset(b.arches)) for b in settings.builders),
        registry=registry,
        node=NodeSettings(image=settings.node_image),
        scratch=settings.home / "builds",
        timeout=settings.build_timeout,
        idle_timeout=settings.build_idle_timeout,
        docker_cli=settings.docker_cli,
        progress_interval=settings.limits.progress_interval,
    )
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    servers = RolloutConfig.from_settings(settings)
    return BuildPipeline(
        database,
        PipelineConfig(
            build=build,
            node_id=settings.node_id,
            servers=servers,
            device_wait=settings.device_wait,
            home=settings.home,
        ),
    )


def build_gateway(settings: Settings, database: Database, pipeline=None, commands=None):
    """The SSH edge wired to the database and the receive pipeline (the build pipeline by default)."""
    from fleetgate.gitd.access import Access
    from fleetgate.gitd.gateway import Gateway, GatewayConfig

    config = GatewayConfig(
        host=settings.ssh_host,
        port=settings.ssh_port,
        host_key_path=settings.host_key_path,
        repositories=settings.repositories,
        limits=settings.limits,
        node_id=settings.node_id,
        public_url=settings.public_ssh_url,
    )
    return Gateway(config, Access(database), pipeline or _pipeline(settings, database), commands)


def http_api(settings: Settings, database: Database, health: Health):
    """The HTTP API's server, its socket bound now (a bad address or certificate stops the start)."""
    from fleetgate.deploy.api.app import ApiConfig, create_app
    from fleetgate.deploy.api.http_server import HttpServer, Listen, ListenError, bind
    from fleetgate.deploy.api.target_state import RegistryCredentials
    from fleetgate.deploy.api.wakeups import WakeupHub
    from fleetgate.deploy.registry_keys import SigningKeyError
    from fleetgate.deploy.registry_token_route import registry_token_router
    from fleetgate.operations.scope import Context
    from fleetgate.user_api import BodyLimit, user_api_router
    from fleetgate.web.app import web_router

    from .health_route import health_router

    listen = Listen(settings.http_host, settings.http_port, settings.http_cert, settings.http_key)
    try:
        sock = bind(listen)
    except ListenError as error:
        raise SettingsError(str(error)) from None
    registry = None
    if settings.registry:
        registry = RegistryCredentials(settings.registry, settings.registry_user, settings.registry_password)
    hub = WakeupHub(database)
    token_auth = settings.registry_auth == "token"
    app = create_app(database, ApiConfig(registry, settings.metrics_token, token_auth), hub)
    try:  # GET /v1/registry/token: the registry's token server (it answers 404 unless REGISTRY_AUTH=token)
        app.include_router(registry_token_router(settings, database))
    except SigningKeyError as error:
        raise SettingsError(str(error)) from None
    app.include_router(user_api_router(Context(database, settings)))  # /v1/ for users, by access token
    app.include_router(health_router(health))  # GET /healthz, for systemd, load balancers and monitoring
    app.include_router(web_router(Context(database, settings)))  # the web pages: session cookie or token
    app.add_middleware(BodyLimit)  # outermost: a user route's big body is refused before anything reads it
    return HttpServer(app, hub, sock, listen)


def getting_started(settings: Settings, port: int, http_url: str | None = None) -> str:
    """What to do next, printed when the gateway starts: a user, a key, a fleet, a remote, a push."""
    host, remote = settings.ssh_host, settings.ssh_url(port)
    api = [f"HTTP API on {http_url} (described at {http_url}/openapi.json)"] if http_url else []
    return "\n".join(
        [
            f"fleetgate is listening for git pushes on ssh://{host}:{port} (data in {settings.home})",
            *api,
            "In another terminal, as the same user (and FLEETGATE_HOME, if you set it):",
            "  fleetgate user add alice",
            "  fleetgate key add alice ~/.ssh/id_ed25519.pub",
            "  fleetgate fleet create alice/demo --device-type raspberrypi3",
            "Then, in your project:",
            f"  git remote add balena {remote}/alice/demo.git",
            "  git push balena master",
        ]
    )


def health_checks(settings: Settings, database: Database) -> Health:
    """The probes of `GET /healthz`: database, the repositories' disk, every build daemon, the registry."""
    from fleetgate.build.publish import Registry

    base_url = Registry(settings.registry).base_url if settings.registry else None
    return Health(
        [
            health_probes.database(database),
            health_probes.disk(settings.repositories, settings.min_free_bytes),
            health_probes.docker_daemons([(b.name, b.url) for b in settings.builders]),
            health_probes.registry(settings.registry, base_url),
        ]
    )


def run(settings: Settings, database: Database, pipeline=None, commands=None) -> None:
    """Serve SSH and the HTTP API in the foreground until SIGTERM or SIGINT (fleetgate/service.py)."""
    from fleetgate import settings as setting_table

    from .service import Service

    # Both addresses first: one in use is one line (and exit 1), before anything else is done.
    ssh = listeners.bind(settings.ssh_host, settings.ssh_port, "SSH", "FLEETGATE_SSH_LISTEN")
    logs = LogOutput(settings.log)
    settings.repositories.mkdir(parents=True, exist_ok=True)
    health = health_checks(settings, database)
    http = http_api(settings, database, health)
    from fleetgate import push_queue
    from fleetgate.hooks.recovery import reconcile

    with database.session() as session:
        push_queue.clear_node(session, settings.node_id)
    succeeded, interrupted = reconcile(database, settings.repositories, settings.node_id)
    if succeeded or interrupted:
        log.info("after a restart: %d releases finished, %d interrupted", succeeded, interrupted)
    gateway = build_gateway(settings, database, pipeline, commands)

    def ready(port: int) -> None:
        print(getting_started(settings, port, settings.public_http_url or http.url), flush=True)

    def reread() -> tuple[Settings, dict[str, str]]:
        return setting_table.load(), setting_table.effective()

    # The daily prune (FLEETGATE_PRUNE_INTERVAL) runs on the service's loop and ends with it.
    jobs = (lambda: daily_prune.schedule(settings, database),)
    service = Service(settings, setting_table.effective(), gateway, http, ssh, logs, reread, jobs)
    try:
        left = service.run(ready)
    finally:
        health.close()
    if left:  # their threads would hold the interpreter's exit (it joins them): leave without waiting
        logs.close()
        os._exit(1)
