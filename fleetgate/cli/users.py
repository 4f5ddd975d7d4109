"""`fleetgate user` and `fleetgate key`: who may log in, and with which SSH public keys (DESIGN.md §3)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fleetgate import keys
from fleetgate.operations import fleets as fleet_ops
from fleetgate.operations import keys as key_ops
from fleetgate.operations import tokens as token_ops
from fleetgate.operations import users as user_ops

from .confirmation import confirm_removal, counted, listing, yes_option
from .context import App, app_of
from .output import Failure, echo, format_time, json_option, print_table, to_json

# ---- users -------------------------------------------------------------------------------------------


@click.group()
def user() -> None:
    """Add, list and remove users."""


@user.command("add")
@click.argument("name")
@click.pass_context
def user_add(ctx: click.Context, name: str) -> None:
    """Add a user; then give them a key with `fleetgate key add`."""
    app = app_of(ctx)
    user_ops.add_user(app.context, app.actor, name)
    echo(f"added user {name}; add their SSH key with: fleetgate key add {name} ~/.ssh/id_ed25519.pub")


@user.command("list")
@json_option
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List users."""
    app = app_of(ctx)
    found = user_ops.list_users(app.context, app.actor)
    if as_json:
        echo(to_json([{"name": u.name, "created": u.created} for u in found]))
        return
    print_table(("NAME", "CREATED"), ((u.name, format_time(u.created)) for u in found))


def _user_contents(app: App, name: str) -> str | None:
    """What removing the user deletes; None for a user who owns fleets (the removal refuses them)."""
    fleets = fleet_ops.list_fleets(app.context, app.actor, name)
    if any(found.owner == name for found in fleets):
        return None
    numbers = {
        "key": len(key_ops.list_keys(app.context, app.actor, name)),
        "access token": len(token_ops.list_tokens(app.context, app.actor, name)),
    }
    held = [f"their {counted(number, noun)}" for noun, number in numbers.items() if number]
    if fleets:
        held.append(f"their membership of {counted(len(fleets), 'fleet')}")
    return listing([f"user {name}", *held])


@user.command("remove")
@click.argument("name")
@yes_option
@click.pass_context
def user_remove(ctx: click.Context, name: str, yes: bool) -> None:
    """Remove a user with their keys, tokens and memberships (a user who owns fleets is refused).

    Asks first on a terminal; elsewhere (a script, CI) it needs --yes.
    """
    app = app_of(ctx)
    contents = _user_contents(app, name)
    if contents is not None:
        confirm_removal(app, contents, yes)
    user_ops.remove_user(app.context, app.actor, name)
    echo(f"removed user {name}")


# ---- keys --------------------------------------------------------------------------------------------


@click.group()
def key() -> None:
    """Add, list and remove users' SSH public keys."""


KEY_TEXT_LIMIT = 64 * 1024  # bytes of key lines one `key add` reads: a few dozen keys, never a disk image


def _key_text(app, source: str) -> str:
    """The key lines in file `source`, or on stdin (the SSH channel's, for an SSH command) for `-`."""
    if source == "-":
        stream = app.stdin if app.stdin is not None else sys.stdin
        text = stream.read(KEY_TEXT_LIMIT + 1)
    else:
        try:
            with open(Path(source).expanduser(), encoding="utf-8", errors="replace") as file:
                text = file.read(KEY_TEXT_LIMIT + 1)
        except OSError as error:
            raise Failure(f"cannot read {source}: {error.strerror}; give an OpenSSH .pub file") from None
    if len(text) > KEY_TEXT_LIMIT:
        raise Failure(f"more than {KEY_TEXT_LIMIT} bytes of keys; give OpenSSH public key lines only")
    return text


@key.command("add")
@click.argument("user_name", metavar="USER")
@click.argument("source", metavar="PUBKEY_FILE|-")
@click.option("--title", help="A label for the key (default: the key's comment).")
@click.pass_context
def key_add(ctx: click.Context, user_name: str, source: str, title: str | None) -> None:
    """Add the OpenSSH public key line(s) in PUBKEY_FILE (- reads stdin); prints each fingerprint."""
    app = app_of(ctx)
    added = key_ops.add_keys(app.context, app.actor, _key_text(app, source), title, user_name)
    for public_key in added:
        echo(public_key.fingerprint)


@key.command("list")
@click.argument("user_name", metavar="USER")
@json_option
@click.pass_context
def key_list(ctx: click.Context, user_name: str, as_json: bool) -> None:
    """List a user's keys."""
    app = app_of(ctx)
    found = key_ops.list_keys(app.context, app.actor, user_name)
    if as_json:
        echo(to_json(found))
        return
    print_table(
        ("FINGERPRINT", "TYPE", "BITS", "TITLE", "ADDED"),
        ((k.fingerprint, k.type, k.bits, k.title, format_time(k.created)) for k in found),
    )


def _key_named(app: App, user_name: str, fingerprint: str) -> str | None:
    """`key SHA256:… (title) of alice`, or None when the user has no such key (the removal says so)."""
    wanted = keys.normalise_fingerprint(fingerprint)
    for found in key_ops.list_keys(app.context, app.actor, user_name):
        if found.fingerprint == wanted:
            title = f" ({found.title})" if found.title else ""
            return f"key {found.fingerprint}{title} of {found.user}"
    return None


@key.command("remove")
@click.argument("user_name", metavar="USER")
@click.argument("fingerprint")
@yes_option
@click.pass_context
def key_remove(ctx: click.Context, user_name: str, fingerprint: str, yes: bool) -> None:
    """Revoke a key (as `fleetgate key list` shows it); pushes in flight with it are stopped.

    Asks first on a terminal; elsewhere (a script, an SSH command) it needs --yes.
    """
    app = app_of(ctx)
    named = _key_named(app, user_name, fingerprint)
    if named is not None:
        confirm_removal(app, named, yes)
    key_ops.remove_key(app.context, app.actor, fingerprint, user_name)
    echo(f"removed key {keys.normalise_fingerprint(fingerprint)} of {user_name}")
