"""`fleetgate token create|list|revoke`: access tokens for the users' HTTP API (DESIGN.md §9)."""

from __future__ import annotations

import click

from fleetgate.operations import tokens as token_ops
from fleetgate.operations import views
from fleetgate.tokens import Token

from .context import App, app_of
from .output import echo, format_time, json_option, print_table, to_json

user_option = click.option(
    "--user", "user_name", metavar="USER", help="Whose tokens (the operator must name one; a user: yours)."
)


def _app(ctx: click.Context, user_name: str | None) -> App:
    app = app_of(ctx)
    if app.actor.is_operator and user_name is None:
        raise click.UsageError("name the user whose tokens you mean: --user USER")
    return app


def _state(found: Token) -> str:
    if found.revoked is not None:
        return f"revoked {format_time(found.revoked)}"
    return "never expires" if found.expires is None else f"expires {format_time(found.expires)}"


@click.group()
def token() -> None:
    """Create, list and revoke access tokens for the HTTP API (/v1/, Authorization: Bearer)."""


@token.command("create")
@click.option("--name", metavar="N", help="A label to tell the user's tokens apart (default: token).")
@click.option("--read-only", is_flag=True, help="Listings and logs only: the token changes nothing.")
@click.option("--expires", "days", type=int, metavar="DAYS", help="Expire after DAYS days (default: never).")
@user_option
@click.pass_context
def token_create(
    ctx: click.Context, name: str | None, read_only: bool, days: int | None, user_name: str | None
) -> None:
    """Create a token; prints its secret alone on stdout, this once."""
    app = _app(ctx, user_name)
    made, secret = token_ops.create_token(app.context, app.actor, name, read_only, days, user_name)
    echo(secret)
    access = "read-only" if made.read_only else "full access"
    echo(f"token {made.id} ({made.name}) of {made.user}, {access}, {_state(made)}:", err=True)
    echo(
        "the secret above is not shown again; keep it (send it as: Authorization: Bearer <secret>)", err=True
    )


@token.command("list")
@user_option
@json_option
@click.pass_context
def token_list(ctx: click.Context, user_name: str | None, as_json: bool) -> None:
    """List a user's tokens and browser sessions (never their secrets), revoked ones too."""
    app = _app(ctx, user_name)
    found = token_ops.list_tokens(app.context, app.actor, user_name)
    if as_json:
        echo(to_json([views.token(t) for t in found]))
        return
    rows = (
        (t.id, t.kind, t.name, "read-only" if t.read_only else "full", format_time(t.created), _state(t))
        for t in found
    )
    print_table(("ID", "KIND", "NAME", "ACCESS", "CREATED", "STATE"), rows)


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@user_option
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int, user_name: str | None) -> None:
    """Revoke a token or a browser session (its ID as `token list` shows it): its next request is refused."""
    app = _app(ctx, user_name)
    revoked = token_ops.revoke_token(app.context, app.actor, token_id, user_name)
    echo(f"revoked token {revoked.id} ({revoked.name}) of {revoked.user}")
