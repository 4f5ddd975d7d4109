"""`fleetgate registry token-config`: what the operator adds to the registry's config for token auth."""

from __future__ import annotations

import click

from .output import Failure, echo


@click.group()
def registry() -> None:
    """The image registry fleetgate pushes to and devices and servers pull from."""


@registry.command("token-config")
@click.option(
    "--realm",
    help="the token URL the registry's clients reach fleetgate at (default: FLEETGATE_PUBLIC_HTTP_URL's)",
)
@click.pass_context
def token_config(ctx: click.Context, realm: str | None) -> None:
    """Print the registry's `auth: token` config (the signing certificate is made if missing)."""
    # Imported here: the signing key's cryptography is a tenth of every other command's start-up.
    from fleetgate.deploy.registry_keys import SigningKeyError, load_or_create
    from fleetgate.deploy.registry_token import TOKEN_PATH

    settings = ctx.find_root().obj.settings  # the App `cli` made
    try:
        load_or_create(settings.registry_token_key_path, settings.registry_token_cert_path)
    except SigningKeyError as error:
        raise Failure(str(error)) from None
    if realm is None:  # where the registry's clients (devices, servers, docker) reach the HTTP API
        realm = settings.http_url() + TOKEN_PATH
    echo(
        "\n".join(
            [
                "# add to the registry's config.yml, then restart it; fleetgate needs",
                "# FLEETGATE_REGISTRY_AUTH=token (and FLEETGATE_REGISTRY, _USER, _PASSWORD)",
                "auth:",
                "  token:",
                f"    realm: {realm}",
                f"    service: {settings.registry_token_service}",
                f"    issuer: {settings.registry_token_issuer}",
                f"    rootcertbundle: {settings.registry_token_cert_path}",
            ]
        )
    )
