"""`fleetgate server …`: the servers a fleet rolls out to, their host keys and proxy (DESIGN.md §3)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from fleetgate import keys
from fleetgate.deploy.servers import inventory as servers
from fleetgate.deploy.servers import known_hosts
from fleetgate.deploy.servers.inventory import Proxy
from fleetgate.operations import servers as server_ops
from fleetgate.operations import views

from .confirmation import confirm_removal, yes_option
from .context import app_of
from .output import Failure, echo, json_option, print_table, to_json

if TYPE_CHECKING:
    from .context import App

NO_REGISTRY = (
    "server rollouts pull images from a registry and none is configured: "
    "set FLEETGATE_REGISTRY (and FLEETGATE_REGISTRY_USER/FLEETGATE_REGISTRY_PASSWORD) for fleetgate serve"
)


def _file(path: str | None, what: str) -> str | None:
    """The absolute path of an operator's file that must exist (the gateway reads it later)."""
    if path is None:
        return None
    found = Path(path).expanduser().absolute()
    if not found.is_file():
        raise Failure(f"{what} {found} is not a file; give the path of an existing file")
    return str(found)


def _holds_public_key(path: Path) -> bool:
    """Whether the file's first line is an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            head = file.read(16 * 1024)
    except OSError:
        return False  # unreadable here (another user's 0600 key): the gateway reads it when it rolls out
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    return bool(lines) and keys.KEY_LINE.fullmatch(lines[0]) is not None


def _private_key(path: str | None) -> str | None:
    """The absolute path of --key, which must be a private key: SSH logs in with it."""
    found = _file(path, "--key")
    if found is None:
        return None
    if found.endswith(".pub") or _holds_public_key(Path(found)):
        private = found.removesuffix(".pub")
        instead = f"--key {private}" if private != found and Path(private).is_file() else "the private key"
        raise Failure(f"--key {found} is a public key; SSH logs in with the private one: give {instead}")
    return found


@click.group()
def server() -> None:
    """Add, list and remove the servers a fleet's releases roll out to over SSH."""


@server.command("add")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("address", metavar="ssh://USER@HOST[:PORT]")
@click.option(
    "--role", metavar="ROLE", help="Run only the services labelled io.fleetgate.role=ROLE (default: all)."
)
@click.option("--key", "key_path", metavar="PATH", help="The SSH private key to log in with.")
@click.option(
    "--host", "proxy_host", metavar="NAME", help="The host name the fleet's proxy routes (all servers)."
)
@click.option("--tls-cert", metavar="FILE", help="The fleet's TLS certificate (PEM), with --tls-key.")
@click.option("--tls-key", metavar="FILE", help="The private key of --tls-cert (PEM).")
@click.pass_context
def server_add(
    ctx: click.Context,
    slug: str,
    address: str,
    role: str | None,
    key_path: str | None,
    proxy_host: str | None,
    tls_cert: str | None,
    tls_key: str | None,
) -> None:
    """Roll the fleet's releases out to the server at ssh://USER@HOST[:PORT] too."""
    app = app_of(ctx)
    proxy = Proxy(proxy_host, _file(tls_cert, "--tls-cert"), _file(tls_key, "--tls-key"))
    row = server_ops.add_server(app.context, app.actor, slug, address, role, _private_key(key_path), proxy)
    added = row.server
    echo(
        f"added server {added.address.url} to {row.fleet.slug} ({'role ' + role if role else 'all services'})"
    )
    if not row.trusted:
        echo(f"its host key is not trusted yet; check it: fleetgate server trust {added.address.endpoint}")
    if not app.settings.registry:
        echo(f"fleetgate: warning: {NO_REGISTRY}", err=True)


@server.command("list")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def server_list(ctx: click.Context, slug: str, as_json: bool) -> None:
    """List the fleet's servers; the first one is the canary of each rollout."""
    app = app_of(ctx)
    rows = [views.server(row) for row in server_ops.list_servers(app.context, app.actor, slug)]
    if as_json:
        echo(to_json(rows))
        return
    print_table(
        ("SERVER", "ROLE", "KEY", "HOST KEY"),
        ((r["address"], r["role"] or "(all)", r["key"] or "-", r["host_key"]) for r in rows),
    )


def _server_named(app: App, slug: str, endpoint: str) -> str | None:
    """`server ssh://deploy@10.0.0.5:22 of alice/web`; None unless exactly one server is at `endpoint`
    (the removal then says why: none there, or several ports to choose from)."""
    host, port = servers.parse_endpoint(endpoint)
    rows = server_ops.list_servers(app.context, app.actor, slug)
    at = [r for r in rows if r.server.address.host == host and port in (None, r.server.address.port)]
    return f"server {at[0].server.address.url} of {at[0].fleet.slug}" if len(at) == 1 else None


@server.command("remove")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("endpoint", metavar="HOST[:PORT]")
@yes_option
@click.pass_context
def server_remove(ctx: click.Context, slug: str, endpoint: str, yes: bool) -> None:
    """Stop rolling the fleet out to a server (what runs there keeps running).

    Asks first on a terminal; elsewhere (a script, CI) it needs --yes.
    """
    app = app_of(ctx)
    named = _server_named(app, slug, endpoint)
    if named is not None:
        confirm_removal(app, f"{named} (its containers keep running)", yes)
    row = server_ops.remove_server(app.context, app.actor, slug, endpoint)
    echo(f"removed server {row.server.address.url} from {row.fleet.slug}; its containers keep running")


@server.command("proxy")
@click.argument("slug", metavar="OWNER/NAME")
@click.option("--host", "proxy_host", metavar="NAME", help="The host name the proxy routes to the fleet.")
@click.option("--tls-cert", metavar="FILE", help="TLS certificate (PEM), with --tls-key.")
@click.option("--tls-key", metavar="FILE", help="The private key of --tls-cert (PEM).")
@json_option
@click.pass_context
def server_proxy(
    ctx: click.Context,
    slug: str,
    proxy_host: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    as_json: bool,
) -> None:
    """Show the fleet's proxy settings, or set its host name and TLS files."""
    proxy = Proxy(proxy_host, _file(tls_cert, "--tls-cert"), _file(tls_key, "--tls-key"))
    app = app_of(ctx)
    found, shown = server_ops.set_proxy(app.context, app.actor, slug, proxy)
    facts = {"fleet": found.slug, "host": shown.host, "tls_cert": shown.tls_cert, "tls_key": shown.tls_key}
    if as_json:
        echo(to_json(facts))
        return
    for label, value in facts.items():
        echo(f"{label.replace('_', ' ') + ':':<10}{value or '-'}")


@server.command("trust")
@click.argument("endpoint", metavar="HOST[:PORT]")
@click.option("--yes", is_flag=True, help="Accept the fingerprint without asking (check it first).")
@click.pass_context
def server_trust(ctx: click.Context, endpoint: str, yes: bool) -> None:
    """Fetch a server's host key, show its fingerprint and record it once you accept it."""
    app = app_of(ctx)
    host, port = servers.parse_endpoint(endpoint)
    if port is None:
        port = _known_port(app, host)
    name = known_hosts.host_name(host, port)
    path = app.settings.known_hosts_path
    offered = known_hosts.fetch(host, port)
    decision = known_hosts.decide(known_hosts.recorded_keys(path, name), offered)
    if decision is known_hosts.Decision.TRUSTED:
        echo(f"{name} is already trusted ({offered.type} {offered.fingerprint})")
        return
    if decision is known_hosts.Decision.CHANGED:
        raise Failure(
            f"the {offered.type} host key of {name} changed (now {offered.fingerprint}): if the server was "
            f"reinstalled, remove its old key with `ssh-keygen -R '{name}' -f {path}` and trust it again"
        )
    echo(f"{name} offers the {offered.type} host key {offered.fingerprint}")
    if not yes:
        try:
            accepted = click.confirm("Is this the server's key? Trust it for rollouts", default=False)
        except click.Abort:
            accepted = False
        if not accepted:
            raise Failure(
                f"{name} is not trusted; compare the fingerprint with `ssh-keygen -lf` on the server"
            )
    known_hosts.record(path, name, offered)
    echo(f"trusted {name}; recorded in {path}")


def _known_port(app: App, host: str) -> int:
    """The port the servers on `host` use, when they all use one; else SSH's default."""
    ports = server_ops.ports_on(app.context, app.actor, host)
    if len(ports) > 1:
        listed = ", ".join(f"{host}:{p}" for p in ports)
        raise Failure(
            f"servers on {host} listen on several ports ({listed}); name one: server trust HOST:PORT"
        )
    return ports[0] if ports else servers.DEFAULT_PORT
