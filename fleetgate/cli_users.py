"""`fleetgate user` and `fleetgate key`: who may log in, and with which SSH public keys (DESIGN.md §3)."""

from __future__ import annotations

from typing import TextIO

import click

from . import keys, users
from .cli_output import format_time, json_option, print_table, to_json
from .db import Database


def _database(ctx: click.Context) -> Database:
    return ctx.find_root().obj.database


# ---- users -------------------------------------------------------------------------------------------


@click.group()
def user() -> None:
    """Add, list and remove users."""


@user.command("add")
@click.argument("name")
@click.pass_context
def user_add(ctx: click.Context, name: str) -> None:
    """Add a user; then give them a key with `fleetgate key add`."""
    with _database(ctx).session() as session:
        users.add_user(session, name)
    click.echo(f"added user {name}; add their SSH key with: fleetgate key add {name} ~/.ssh/id_ed25519.pub")


@user.command("list")
@json_option
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List users."""
    with _database(ctx).session(readonly=True) as session:
        found = users.list_users(session)
    if as_json:
        click.echo(to_json([{"name": u.name, "created": u.created} for u in found]))
        return
    print_table(("NAME", "CREATED"), ((u.name, format_time(u.created)) for u in found))


@user.command("remove")
@click.argument("name")
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Remove a user with their keys and memberships (a user who owns fleets is refused)."""
    with _database(ctx).session() as session:
        users.remove_user(session, name)
    click.echo(f"removed user {name}")


# ---- keys --------------------------------------------------------------------------------------------


@click.group()
def key() -> None:
    """Add, list and remove users' SSH public keys."""


@key.command("add")
@click.argument("user_name", metavar="USER")
@click.argument("pubkey_file", metavar="PUBKEY_FILE|-", type=click.File("r"))
@click.option("--title", help="A label for the key (default: the key's comment).")
@click.pass_context
def key_add(ctx: click.Context, user_name: str, pubkey_file: TextIO, title: str | None) -> None:
    """Add the OpenSSH public key line(s) in PUBKEY_FILE (- reads stdin); prints each fingerprint."""
    text = pubkey_file.read()
    with _database(ctx).session() as session:
        added = keys.add_keys(session, user_name, text, title)
    for public_key in added:
        click.echo(public_key.fingerprint)


@key.command("list")
@click.argument("user_name", metavar="USER")
@json_option
@click.pass_context
def key_list(ctx: click.Context, user_name: str, as_json: bool) -> None:
    """List a user's keys."""
    with _database(ctx).session(readonly=True) as session:
        found = keys.list_keys(session, user_name)
    if as_json:
        click.echo(to_json(found))
        return
    print_table(
        ("FINGERPRINT", "TYPE", "BITS", "TITLE", "ADDED"),
        ((k.fingerprint, k.type, k.bits, k.title, format_time(k.created)) for k in found),
    )


@key.command("remove")
@click.argument("user_name", metavar="USER")
@click.argument("fingerprint")
@click.pass_context
def key_remove(ctx: click.Context, user_name: str, fingerprint: str) -> None:
    """Revoke a key (as `fleetgate key list` shows it); pushes in flight with it are stopped."""
    with _database(ctx).session() as session:
        keys.remove_key(session, user_name, fingerprint)
    click.echo(f"removed key {keys.normalise_fingerprint(fingerprint)} of {user_name}")
