"""`fleetgate config show`: every setting's effective value and where it came from (DESIGN.md §3)."""

from __future__ import annotations

import re

import click

from fleetgate import settings
from fleetgate.setting_sources import HOME, file_key

from .output import echo, json_option, print_table, to_json


def masked(known: settings.Known, value: str) -> str:
    """The value as shown: a secret as ***, a URL's password only."""
    if not known.secret or not value:
        return value
    if "://" in value:  # a database URL: only its password is secret
        return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", value)
    return "***"


@click.group()
def config() -> None:
    """The gateway's settings: environment variables over $FLEETGATE_HOME/fleetgate.toml."""


@config.command("show")
@json_option
def config_show(as_json: bool) -> None:
    """Print each setting's value and where it came from: the environment, the file or the default."""
    settings.load()  # what the gateway would refuse, this refuses too, with the same line
    found = settings.values()
    rows = [
        {
            "name": known.name,
            "key": None if known.name == HOME else file_key(known.name),  # FLEETGATE_HOME: not in the file
            "value": masked(known, found[known.name]),
            "source": found.sources.source(known.name),
        }
        for known in settings.KNOWN
    ]
    if as_json:
        echo(to_json({"file": str(found.sources.path), "settings": rows}))
        return
    echo(f"settings file: {found.sources.path}{'' if found.sources.path.is_file() else ' (none)'}")
    print_table(("SETTING", "VALUE", "FROM"), ((r["name"], r["value"] or "-", r["source"]) for r in rows))
