"""`fleetgate login`: a one-time link that signs a user in to the web pages (`ssh git@HOST login`)."""

from __future__ import annotations

import click

from fleetgate.operations import sessions as session_ops

from .context import app_of
from .output import echo, format_time


@click.command()
@click.option("--user", "user_name", metavar="USER", help="Whose link (the operator must name one).")
@click.pass_context
def login(ctx: click.Context, user_name: str | None) -> None:
    """Print a link that opens a browser session: it works once, for five minutes."""
    app = app_of(ctx)
    if app.actor.is_operator and user_name is None:
        raise click.UsageError("name the user to sign in: --user USER")
    link = session_ops.create_login_link(app.context, app.actor, user_name)
    echo(link.url)
    echo(
        f"open it in your browser to sign in as {link.user}; it works once, until {format_time(link.expires)}"
        " (sessions show in: token list)",
        err=True,
    )
