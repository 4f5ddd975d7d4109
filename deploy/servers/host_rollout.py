"""Host rollout: the steps on one host, top to bottom (issue 5; `rollout` sequences the hosts).

The host keeps serving what it served until the new web container passed its health check through the
proxy; every failure before the switch removes what this rollout created and leaves the old containers
running. `switch_back` undoes a finished host when another host failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from . import commands as cmd
from . import container_spec, proxy
from .container_spec import WebService
from .host_containers import (
    ContainerState,
    HostError,
    container_state,
    label_of,
    list_containers,
    published_address,
    show_logs,
)
from .proxy import Listen, Route, Slot
from .ssh import Connection, SSHError

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """What to run on one host: the release's services for it, its web service, options and context."""

    slug: str
    release_hash: str
    release_name: str
    services: Mapping[str, Mapping[str, Any]]
    env_files: Mapping[str, cmd.Command]  # by service: the command writing its container's environment
    creates: Mapping[str, cmd.Command]  # by service: its `docker create`, made (and checked) before any host
    web: WebService | None
    registry: tuple[str, str, str] | None
    proxy_host: str | None
    certificate: bytes | None  # certificate and key, PEM, concatenated as HAProxy reads them
    options: Any  # RolloutOptions
    host: str  # the SSH host, for "{host}" in the bind options


@dataclass(frozen=True)
class Deployed:
    """What a host served before and serves now, for a switch back."""

    previous: tuple[str, ...]  # containers that ran before (now stopped)
    previous_releases: tuple[str, ...]  # their releases: a prune keeps them for a switch back
    previous_web: str | None  # the container the proxy sent traffic to before
    current: tuple[str, ...]  # the new release's containers
    route: Route | None


def _home(conn: Connection) -> str:
    return conn.run(cmd.Command(("sh", "-c", 'printf %s "$HOME"'))).stdout.strip()


def _bind(template: str, plan: Plan) -> str:
    return template.replace("{host}", plan.host)


def host_routes(conn: Connection) -> list[Route]:
    return [
        proxy.parse_route(line) for line in conn.run(proxy.read_routes()).stdout.splitlines() if line.strip()
    ]


def _write_config(conn: Connection, routes: list[Route], plan: Plan) -> bool:
    """Write haproxy.cfg for `routes`; whether it changed."""
    listen = Listen(_bind(plan.options.proxy_bind, plan), plan.options.http_port, plan.options.https_port)
    text = proxy.config(routes, listen)
    old = conn.call(cmd.Command(("cat", f"{proxy.DIR}/haproxy.cfg"))).stdout
    if old == text:
        return False
    conn.run(proxy.write("haproxy.cfg", text.encode()))
    return True


@contextmanager
def _proxy_lock(conn: Connection) -> Iterator[None]:
    """Fleets on one host share the proxy's config: one rollout at a time reads and writes it."""
    conn.run(proxy.take_lock())
    try:
        yield
    finally:
        conn.call(proxy.drop_lock())


def _save_route(conn: Connection, route: Route, plan: Plan) -> bool:
    """Write the fleet's route and the config for all routes (under the proxy lock); whether it changed."""
    routes = [r for r in host_routes(conn) if r.fleet != route.fleet] + [route]
    problem = proxy.check_routes(routes)
    if problem:
        raise HostError(problem)
    conn.run(proxy.write(proxy.route_path(route.fleet), proxy.route_json(route)))
    return _write_config(conn, routes, plan)


def stats(conn: Connection, route: Route) -> dict[str, proxy.SlotStat]:
    out = conn.call(proxy.show_stat())
    return proxy.parse_stat(out.stdout, route.backend) if out.status == 0 else {}


def ensure_proxy(conn: Connection, plan: Plan, say: Say) -> Route:
    """The fleet's route on the host, the proxy running with it (reloaded when the route is new)."""
    assert plan.web is not None
    if plan.certificate is not None:
        conn.run(proxy.write(proxy.cert_path(plan.slug), plan.certificate, mode="600"))
    ours = [r for r in host_routes(conn) if r.fleet == plan.slug]
    want = Route(plan.slug, plan.proxy_host, plan.web.health_path, plan.certificate is not None)
    if ours:
        want = replace(ours[0], host=want.host, health_path=want.health_path, tls=want.tls)
    with _proxy_lock(conn):
        changed = _save_route(conn, want, plan)
        started = conn.run(proxy.ensure(plan.options.proxy_image, _home(conn))).stdout.strip()
        if started:
            say(f"proxy started ({plan.options.proxy_image})")
        elif changed:
            conn.run(proxy.reload())
            say("proxy configuration reloaded")
    deadline = time.monotonic() + 30
    while not stats(conn, want):
        if time.monotonic() > deadline:
            raise HostError(f"the proxy on {conn.endpoint} did not come up; see: docker logs {proxy.NAME}")
        time.sleep(0.2)
    return want


def _wait_healthy(
    conn: Connection, route: Route, slot: str, address: str, name: str, plan: Plan, say: Say
) -> None:
    """Wait until HAProxy's check of `slot` passes; a HostError (slot back in maint) when it never does."""
    assert plan.web is not None
    deadline = time.monotonic() + plan.options.health_timeout
    checked = 0.0
    while not (stat := stats(conn, route).get(slot)) or not stat.healthy:
        if stat is not None and stat.status.startswith("MAINT"):
            # Another fleet's rollout reloaded the proxy, whose config still has this slot empty:
            # the runtime change went with the old worker. Make it again.
            conn.run(proxy.set_slot(route, slot, address, "drain"))
        problem: str | None = None
        if time.monotonic() - checked > 1:  # the container itself, once a second
            checked = time.monotonic()
            state = container_state(conn, name)
            if state.status != "running":
                problem = f"is {state.status}"
            elif state.health == "unhealthy":
                problem = "is unhealthy"
        if not problem and time.monotonic() > deadline:
            limit = plan.options.health_timeout
            problem = f"did not answer GET {plan.web.health_path} with 200 within {limit:.0f}s"
        if problem:
            conn.call(proxy.set_states(route, {slot: "maint"}))
            show_logs(conn, name, plan.options.log_lines, say)
            raise HostError(f"container {name} {problem} (last check: {stat.check if stat else 'none'})")
        time.sleep(0.2)


def switch(conn: Connection, route: Route, name: str, release: str, plan: Plan, say: Say) -> Route:
    """Put container `name` behind the route once HAProxy's health check passes; drain the old slot."""
    assert plan.web is not None
    address = published_address(conn, name, plan.web.port)
    idle, old = route.idle, (route.live if route.live and route.slot(route.live) else None)
    conn.run(proxy.set_slot(route, idle, address, "drain"))
    new = replace(route.with_slot(idle, Slot(name, release, address)), live=idle)
    limit = plan.options.health_timeout
    say(f"waiting up to {limit:.0f}s for {name} to answer GET {plan.web.health_path}")
    while True:
        _wait_healthy(conn, route, idle, address, name, plan, say)
        # The switch and the config that records it under the proxy lock, and only if the check still
        # passes there: a reload by another fleet's rollout (which takes the lock) would otherwise
        # start a worker from the old config and undo the switch.
        with _proxy_lock(conn):
            if (stat := stats(conn, route).get(idle)) is None or not stat.healthy:
                continue  # reloaded since the check passed: wait for it again
            say(f"{name} is healthy; switching the proxy to it")
            conn.run(proxy.set_states(route, {idle: "ready", **({old: "drain"} if old else {})}))
            say(f"proxy switched to {name}")
            try:  # the new container serves now: a failure to record it is a warning (caught up next time)
                _save_route(conn, new, plan)
            except (SSHError, HostError) as error:
                say(f"warning: after the switch: {error}")
            break
    try:
        if old:
            until = time.monotonic() + plan.options.drain_timeout
            while (stat := stats(conn, route).get(old)) and stat.sessions > 0 and time.monotonic() < until:
                time.sleep(0.1)
            conn.run(proxy.set_states(route, {old: "maint"}))
    except (SSHError, HostError) as error:
        say(f"warning: after the switch: {error}")
    return new


UP = ("none", "healthy")  # health states of a running container that count as up
DEATH_WAIT = 5.0  # seconds to catch a restarted container between runs, to read its exit code


def _wait_running(conn: Connection, names: list[str], plan: Plan, say: Say) -> None:
    """The services besides the web one are up: healthy by their own check, else still running after
    the readiness delay (Kamal's `readiness_delay`: a worker that dies at once looks running at first)."""
    started = time.monotonic()
    deadline = started + plan.options.health_timeout
    unchecked = []
    if names:
        say(f"waiting up to {plan.options.health_timeout:.0f}s for {', '.join(names)} to be up")
    for name in names:
        while True:
            state = container_state(conn, name)
            if state.died or state.health == "unhealthy":
                _failed(conn, name, state, plan, say)
            if state.status == "running" and state.health in UP:
                break
            if time.monotonic() > deadline:
                show_logs(conn, name, plan.options.log_lines, say)
                raise HostError(f"container {name} did not become healthy in time")
            time.sleep(0.3)
        if state.health == "none":
            unchecked.append(name)
    if unchecked:
        time.sleep(max(0.0, started + plan.options.readiness_delay - time.monotonic()))
        for name in unchecked:
            if (state := container_state(conn, name)).died:
                _failed(conn, name, state, plan, say)


def _failed(conn: Connection, name: str, state: ContainerState, plan: Plan, say: Say) -> NoReturn:
    reason = death_reason(state, lambda: container_state(conn, name)) if state.died else "is unhealthy"
    show_logs(conn, name, plan.options.log_lines, say)
    raise HostError(f"container {name} {reason}")


def death_reason(state: ContainerState, again: Callable[[], ContainerState], wait: float = DEATH_WAIT) -> str:
    """How a container that died did. Docker resets its exit code when the restart policy starts it
    again, so one caught running after a restart reads 0: the code shows while it waits between runs."""
    deadline = time.monotonic() + wait
    while state.status == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        state = again()
    if state.status == "running":
        return f"exited and was restarted {state.restarts} times"
    return f"exited with status {state.exit_code}"


def _start(
    conn: Connection, plan: Plan, existing: dict[str, str], say: Say, names: list[str], created: list[str]
) -> None:
    """Create (or restart retained) containers of the release into `names`; the new ones also in `created`.

    The lists are the caller's so that a failure halfway still tells it what to remove.
    """
    for service in plan.services:
        name = cmd.container_name(plan.slug, service, plan.release_hash)
        if service in existing:
            say(f"{service}: starting the retained container {name}")
        else:
            conn.run(plan.env_files[service])
            try:
                conn.run(plan.creates[service])
            finally:
                conn.call(cmd.Command(("rm", "-f", cmd.env_file_path(name))))
            created.append(name)
        names.append(name)
        conn.run(cmd.start(name))


def _pull(conn: Connection, plan: Plan, services: list[str], say: Say, pulled: list[str]) -> None:
    """Pull the services' images the host lacks, into `pulled` (the caller's, so a failure still tells)."""
    if services and plan.registry:
        server, username, password = plan.registry
        conn.run(replace(cmd.login(server, username), stdin=password.encode()))
    for service in services:
        image = str(plan.services[service]["image"])
        say(f"{service}: pulling {image}")
        if conn.run(cmd.pull(image), timeout=plan.options.command_timeout).stdout.strip() == cmd.PULLED:
            pulled.append(image)


def deploy(conn: Connection, plan: Plan, say: Say) -> Deployed:
    """Run the release on this host and switch the proxy to it; raise HostError with the host unchanged."""
    before = list_containers(conn, plan.slug)
    existing = {c.service: c.name for c in before if c.release == plan.release_hash}
    ran = [c for c in before if c.release != plan.release_hash and c.state == "running"]
    previous = tuple(c.name for c in ran)
    missing = [s for s in plan.services if s not in existing]
    names: list[str] = []
    created: list[str] = []
    pulled: list[str] = []
    try:
        _pull(conn, plan, missing, say, pulled)
        if len(plan.services) > 1:  # services find each other by name; one service needs no own network
            conn.run(cmd.network(plan.slug))
        route = ensure_proxy(conn, plan, say) if plan.web else None
        previous_web = (
            route.slot(route.live).container if route and route.live and route.slot(route.live) else None
        )
        _start(conn, plan, existing, say, names, created)
        others = [n for s, n in zip(plan.services, names, strict=True) if not plan.web or s != plan.web.name]
        _wait_running(conn, others, plan, say)
        if plan.web and route is not None:
            web_name = cmd.container_name(plan.slug, plan.web.name, plan.release_hash)
            route = switch(conn, route, web_name, plan.release_hash, plan, say)
    except BaseException:  # whatever went wrong, the host is left as it was
        if created:
            conn.call(cmd.remove(created))
        retained = [n for n in names if n not in created]
        if retained:
            conn.call(cmd.stop(retained, plan.options.stop_timeout))
        if pulled:  # a failed release's images would otherwise stay on the host until the next prune
            conn.call(cmd.remove_images(pulled))
        raise
    if previous:  # the host serves the release now: a failure here is a warning, never a failed host
        out = conn.call(cmd.stop(previous, plan.options.stop_timeout), timeout=plan.options.command_timeout)
        say(
            f"stopped {', '.join(previous)}"
            if out.status == 0
            else f"warning: stopping the old ones: {out.stderr.strip()}"
        )
    return Deployed(previous, tuple(dict.fromkeys(c.release for c in ran)), previous_web, tuple(names), route)


def switch_back(conn: Connection, plan: Plan, deployed: Deployed, say: Say) -> None:
    """Serve what the host served before `deploy`: restart the old containers, switch, stop the new."""
    if deployed.previous:
        conn.run(cmd.Command(("docker", "start", *deployed.previous)))
    if deployed.route is not None and deployed.previous_web:
        raw = label_of(conn, deployed.previous_web, container_spec.PORT_LABEL)
        port = int(raw) if raw.isdigit() else None
        release = label_of(conn, deployed.previous_web, "io.fleetgate.release") or "?"
        if port is not None and plan.web is not None:
            web = WebService(plan.web.name, port, deployed.route.health_path)
            switch(conn, deployed.route, deployed.previous_web, release, replace(plan, web=web), say)
    stop = [name for name in deployed.current if name not in deployed.previous]
    if stop:
        conn.run(cmd.stop(stop, plan.options.stop_timeout), timeout=plan.options.command_timeout)
    say(f"switched back to {', '.join(deployed.previous) or 'nothing (first release on this host)'}")
