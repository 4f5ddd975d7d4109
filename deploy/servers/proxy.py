"""Proxy: HAProxy (Debian's 2.6) in a container on each server, in front of every fleet's web service.

Each fleet on a host has a route: a host name (or the default route), a backend with two server slots
`a` and `b`. A switch happens through HAProxy's runtime API, without a reload: put the new container's
address in the idle slot in `drain` (health-checked, no traffic), wait for its check to pass, make it
`ready` and the old slot `drain` (in-flight requests finish, new ones go to the new slot), then `maint`
once the old slot has no sessions left. The configuration file is rewritten after every switch so a
restarted proxy starts in the same state; a reload (SIGUSR2 to the master, listeners kept, idle
keep-alive connections closed only after their next response) happens only when routes are added or
changed. Everything here is pure: config text, runtime command text and parsing of `show stat`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from .commands import LOCKS, STATE_DIR, Command, fleet_key, sh

NAME = "fleetgate-proxy"
DIR = f"{STATE_DIR}/proxy"  # on the host; mounted read-only at /etc/fleetgate-proxy
MOUNT = "/etc/fleetgate-proxy"
SOCKET = "/run/haproxy/admin.sock"
SLOTS = ("a", "b")
NOWHERE = "127.0.0.1:9"  # an empty slot's address: it is in maintenance, so never used


@dataclass(frozen=True)
class Slot:
    """A backend server slot: the container behind it, its release and address."""

    container: str
    release: str
    address: str  # host:port where the container's web port is published


@dataclass(frozen=True)
class Route:
    """A fleet's route on one host."""

    fleet: str  # slug
    host: str | None  # host name routed here; None: the default route
    health_path: str
    tls: bool
    live: str | None = None  # the slot with traffic
    a: Slot | None = None
    b: Slot | None = None

    @property
    def backend(self) -> str:
        return f"fg_{fleet_key(self.fleet)}"

    def slot(self, name: str) -> Slot | None:
        return self.a if name == "a" else self.b

    @property
    def idle(self) -> str:
        """The slot a new container goes to."""
        return "b" if self.live == "a" else "a"

    def with_slot(self, name: str, slot: Slot | None) -> Route:
        return replace(self, a=slot) if name == "a" else replace(self, b=slot)

    @property
    def shape(self) -> tuple:
        """What a change of needs a reload (the rest changes through the runtime API)."""
        return (self.fleet, self.host, self.health_path, self.tls)


@dataclass(frozen=True)
class Listen:
    """Where the proxy listens."""

    bind: str  # "" all addresses
    http_port: int
    https_port: int


def route_json(route: Route) -> bytes:
    return json.dumps(asdict(route), sort_keys=True, indent=1).encode()


def parse_route(text: str) -> Route:
    data = json.loads(text)
    slots = {name: Slot(**data[name]) if data.get(name) else None for name in SLOTS}
    return Route(data["fleet"], data["host"], data["health_path"], data["tls"], data["live"], **slots)


def _server_line(route: Route, name: str) -> str:
    slot = route.slot(name)
    address = slot.address if slot else NOWHERE
    state = "" if name == route.live and slot else " disabled"
    return f"    server {name} {address} check{state}"


def config(routes: list[Route] | tuple[Route, ...], listen: Listen) -> str:
    """The whole haproxy.cfg for a host's routes (sorted, so the same routes give the same text)."""
    routes = sorted(routes, key=lambda route: route.fleet)
    bind = listen.bind
    lines = [
        "# written by fleetgate; changes here are overwritten by the next rollout",
        "global",
        f"    stats socket {SOCKET} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 300s",
        "    timeout http-keep-alive 60s",
        "    option idle-close-on-response",
        "    option forwardfor",
        "frontend web",
        f"    bind {bind}:{listen.http_port}",
    ]
    if any(route.tls for route in routes):
        lines.append(f"    bind {bind}:{listen.https_port} ssl crt {MOUNT}/certs/")
    lines.append("    http-request set-var(txn.host) req.hdr(host),field(1,:),lower")
    for route in routes:
        if route.host is not None:
            lines.append(f"    use_backend {route.backend} if {{ var(txn.host) -m str {route.host} }}")
    default = [route for route in routes if route.host is None]
    if default:
        lines.append(f"    default_backend {default[0].backend}")
    for route in routes:
        host = route.host or "localhost"
        lines += [
            f"backend {route.backend}",
            "    option httpchk",
            f"    http-check send meth GET uri {route.health_path} ver HTTP/1.1 hdr Host {host}",
            "    http-check expect status 200",
            "    default-server inter 500ms fastinter 250ms downinter 1s rise 2 fall 2",
            *(_server_line(route, name) for name in SLOTS),
        ]
    return "\n".join(lines) + "\n"


def check_routes(routes: list[Route] | tuple[Route, ...]) -> str | None:
    """Why these routes cannot share one proxy (two fleets on one host name), or None."""
    seen: dict[str | None, str] = {}
    for route in routes:
        if route.host in seen and seen[route.host] != route.fleet:
            name = route.host or "the default route (no --host)"
            other = seen[route.host]
            return f"{route.fleet} and {other} want {name} on this server; give each fleet its own --host"
        seen[route.host] = route.fleet
    return None


def read_routes() -> Command:
    """Every route file on the host, one JSON document a line."""
    return sh(
        'mkdir -p "$1/routes" "$1/certs" && for f in "$1"/routes/*.json; do '
        '[ -e "$f" ] && tr -d "\\n" < "$f" && echo; done; true',
        DIR,
    )


def write(path: str, data: bytes, mode: str = "644") -> Command:
    """Write a file under the proxy's folder atomically (rename), so the proxy never reads half a file."""
    script = 'mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && chmod "$2" "$1.tmp" && mv "$1.tmp" "$1"'
    return sh(script, f"{DIR}/{path}", mode, stdin=data)


def take_lock() -> Command:
    """Wait up to 30 s for the host's proxy lock (fleets share the config); one older than 2 min is stale."""
    script = (
        'mkdir -p "$1"; i=0; until mkdir "$2" 2>/dev/null; do '
        'find "$2" -maxdepth 0 -mmin +2 -exec rm -rf {} + 2>/dev/null; '
        'i=$((i+1)); if [ "$i" -gt 300 ]; then echo "the proxy lock $2 is held" >&2; exit 3; fi; '
        "sleep 0.1; done"
    )
    return sh(script, LOCKS, f"{LOCKS}/.proxy")


def drop_lock() -> Command:
    return Command(("rm", "-rf", "--", f"{LOCKS}/.proxy"))


def route_path(fleet: str) -> str:
    return f"routes/{fleet_key(fleet)}.json"


def cert_path(fleet: str) -> str:
    return f"certs/{fleet_key(fleet)}.pem"


def ensure(image: str, home: str) -> Command:
    """Start the proxy unless it runs; host networking, so it reaches containers' published ports."""
    script = (
        'if [ "$(docker inspect -f "{{.State.Running}}" "$1" 2>/dev/null)" = true ]; then exit 0; fi; '
        'docker rm -f "$1" >/dev/null 2>&1; '
        'docker run -d --name "$1" --restart unless-stopped --network host '
        '-v "$3/$4:$5:ro" "$2" haproxy -W -db -f "$5/haproxy.cfg" >/dev/null && echo started'
    )
    return sh(script, NAME, image, home, DIR, MOUNT)


def reload() -> Command:
    """Reload the configuration (master-worker: new worker on the same listeners, old one finishes)."""
    return Command(("docker", "kill", "--signal", "USR2", NAME))


def api(*commands: str) -> Command:
    """Runtime API commands, sent in one connection, run in order."""
    return Command(
        ("docker", "exec", "-i", NAME, "socat", "stdio", f"unix-connect:{SOCKET}"),
        stdin=("; ".join(commands) + "\n").encode(),
    )


def set_slot(route: Route, name: str, address: str, state: str) -> Command:
    """Point a slot at an address and put it in `drain` (checked, no traffic), `ready` or `maint`."""
    host, _, port = address.rpartition(":")
    backend = f"{route.backend}/{name}"
    return api(f"set server {backend} addr {host} port {port}", f"set server {backend} state {state}")


def set_states(route: Route, states: Mapping[str, str]) -> Command:
    return api(*(f"set server {route.backend}/{name} state {state}" for name, state in states.items()))


def show_stat() -> Command:
    return api("show stat")


@dataclass(frozen=True)
class SlotStat:
    """A slot as HAProxy sees it: status (UP, DRAIN, MAINT, DOWN, `DRAIN 1/2`...), check, sessions."""

    status: str
    check: str
    sessions: int

    @property
    def healthy(self) -> bool:
        return self.check == "L7OK" and self.status in ("UP", "DRAIN")


def parse_stat(text: str, backend: str) -> dict[str, SlotStat]:
    """The slots of `backend` in `show stat` CSV output."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    found = {}
    for row in rows:
        if row.get("pxname") == backend and row.get("svname") in SLOTS:
            # HAProxy marks a check in progress with "* " before the last check's status ("* L7OK").
            check = row["check_status"].removeprefix("* ")
            found[row["svname"]] = SlotStat(row["status"], check, int(row["scur"] or 0))
    return found
