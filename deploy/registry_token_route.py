"""Registry token route: `GET /v1/registry/token`, the realm the registry's Bearer challenge names.

Docker clients (a device's or server's daemon, `docker login`, fleetgate's own build daemon) come here
with HTTP basic auth and the `service` and `scope` the registry's challenge gave them. Who they are is
decided here (the operator, a rollout's pull credential, or a device by uuid and API key); what they
get is the pure core's (deploy/registry_token.py).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from fleetgate.db import Database

from . import devices, registry_token
from .registry_keys import SigningKey, load_or_create
from .registry_token import BadCredentials, Identity, ScopeError

log = logging.getLogger("fleetgate.registry_token")
PATH = registry_token.TOKEN_PATH
# The challenge the Docker client answers with basic auth (docker login shows this realm on failure).
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="fleetgate registry"'}
# auto_error=False: no credentials is an anonymous request, which gets a token granting nothing.
# Module level: with postponed annotations FastAPI resolves `Depends(BASIC)` in the module's globals.
BASIC = HTTPBasic(auto_error=False, realm="fleetgate registry")


@dataclass(frozen=True)
class TokenSettings:
    """What the route needs from the operator's settings (given as arguments: deploy reads no env)."""

    enabled: bool
    issuer: str
    service: str
    operator: tuple[str, str] | None
    key_path: Path
    cert_path: Path

    @classmethod
    def of(cls, settings: Any) -> TokenSettings:
        """From fleetgate's Settings (`registry_auth`, `registry_token_*`, `registry_user/password`)."""
        user, password = settings.registry_user, settings.registry_password
        return cls(
            enabled=settings.registry_auth == "token",
            issuer=settings.registry_token_issuer,
            service=settings.registry_token_service,
            operator=(user, password) if user and password else None,
            key_path=settings.registry_token_key_path,
            cert_path=settings.registry_token_cert_path,
        )


def _identify(
    config: TokenSettings,
    key: SigningKey,
    database: Database,
    credentials: HTTPBasicCredentials | None,
    now: int,
) -> Identity:
    """Who the credentials prove; 401 for credentials that prove no one (anonymous is not an error)."""
    if credentials is None:
        return None
    user, password = credentials.username, credentials.password
    try:
        known = registry_token.known_identity(user, password, config.operator, key.pull_secret(), now)
    except BadCredentials as error:
        raise HTTPException(401, str(error), headers=BASIC_CHALLENGE) from None
    if known is not None:
        return known
    with database.session(readonly=True) as session:
        device = devices.authenticate(session, user, password)
    if device is None:
        raise HTTPException(
            401,
            "unknown device or wrong API key; log in with the device's uuid and API key",
            headers=BASIC_CHALLENGE,
        )
    return registry_token.Device(device.uuid, device.fleet)


def registry_token_router(settings: Any, database: Database) -> APIRouter:
    """The token route; the signing key is made on the first start with FLEETGATE_REGISTRY_AUTH=token."""
    config = TokenSettings.of(settings)
    key = load_or_create(config.key_path, config.cert_path) if config.enabled else None
    router = APIRouter(tags=["registry"])

    # A plain `def`: FastAPI runs it in its thread pool, so the database lookup never blocks the loop.
    @router.get(PATH, summary="A registry token (Docker registry token authentication)")
    def token(
        credentials: Annotated[HTTPBasicCredentials | None, Depends(BASIC)],
        service: Annotated[
            str | None, Query(description="the registry's service, from its challenge")
        ] = None,
        scope: Annotated[
            list[str] | None, Query(description="repository:OWNER/FLEET/SERVICE:pull[,push]")
        ] = None,
        account: Annotated[str | None, Query(description="the login name the client uses (unused)")] = None,
    ) -> dict[str, object]:
        if key is None:
            raise HTTPException(
                404, "this gateway is not the registry's token server; set FLEETGATE_REGISTRY_AUTH=token"
            )
        if service is not None and service != config.service:
            raise HTTPException(
                400,
                f"this token server signs for service {config.service!r}, not {service[:100]!r}; "
                "set the registry's auth.token.service or FLEETGATE_REGISTRY_TOKEN_SERVICE to match",
            )
        try:
            scopes = registry_token.parse_scopes(scope or ())
        except ScopeError as error:
            raise HTTPException(400, str(error)) from None
        now = int(time.time())
        identity = _identify(config, key, database, credentials, now)
        granted = registry_token.grants(identity, scopes)
        signer = key.signer(config.issuer, config.service)
        claims = registry_token.claims(signer, identity, granted, now, secrets.token_hex(16))
        log.info("registry token for %r: %s", claims["sub"], [s.claim() for s in granted])
        return registry_token.token_response(registry_token.sign(signer, claims), now)

    return router


def rollout_registry(settings: Any, fleet: str, now: int | None = None) -> tuple[str, str, str] | None:
    """(server, user, password) a server pulls `fleet`'s release with; None without a registry.

    With token auth, a pull credential for that fleet only, valid for an hour: a server that is broken
    into cannot push, nor read other fleets' images, and the credential expires by itself. With basic
    auth (htpasswd cannot scope), the operator's account, as before.
    """
    if not settings.registry:
        return None
    config = TokenSettings.of(settings)
    if not config.enabled:
        if config.operator is None:
            return None
        return settings.registry, *config.operator
    key = load_or_create(config.key_path, config.cert_path)
    user, password = registry_token.pull_credential(
        key.pull_secret(), fleet, int(time.time()) if now is None else now
    )
    return settings.registry, user, password
