"""Registry tokens: fleetgate as the registry's token server (Docker registry token authentication).

The registry answers an unauthenticated request with `401` and a `Bearer realm=…,service=…,scope=…`
challenge; the client asks the realm (our `GET /v1/registry/token`) for a JWT that lists what it may
do, and the registry checks that JWT against the certificate in its `rootcertbundle`. htpasswd cannot
say "this device may read its own fleet only"; a token server can, so fleetgate is one, as openBalena's
API is for its registry. Everything here is pure: scopes, who gets what, the claims, the signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

TOKEN_PATH = "/v1/registry/token"  # the realm, on the device API
TOKEN_SECONDS = 300  # as Docker Hub: a pull asks again per repository, so a short life costs nothing
PULL_CREDENTIAL_SECONDS = 3600  # long enough for a slow rollout's pulls; each rollout gets a new one
PULL_USER_PREFIX = "rollout/"  # `rollout/<owner>/<fleet>`: no device uuid or operator name has a slash
ALGORITHM = "ES256"  # P-256: distribution 2.8 verifies it through libtrust, as it does RS256

# resourcetype[(class)]:resourcename:action[,action]; the name may hold a colon (a registry host:port),
# so the type ends at the first colon and the actions start after the last.
_SCOPE = re.compile(r"^(?P<type>[a-z0-9]+)(?:\((?P<cls>[a-z0-9]+)\))?:(?P<name>.+):(?P<actions>[a-z*,]*)$")
_ACTION = re.compile(r"^(?:[a-z]+|\*)$")


class ScopeError(ValueError):
    """A `scope` parameter that is not `type:name:actions`: the client's fault."""


class BadCredentials(ValueError):
    """A known kind of account with the wrong password: the client must log in again."""


@dataclass(frozen=True)
class Scope:
    """One resource and the actions asked for (or granted) on it."""

    type: str
    name: str
    actions: tuple[str, ...]
    resource_class: str = ""

    def claim(self) -> dict[str, object]:
        """The scope as an entry of the token's `access` list."""
        entry: dict[str, object] = {"type": self.type, "name": self.name, "actions": list(self.actions)}
        if self.resource_class:
            entry["class"] = self.resource_class
        return entry


@dataclass(frozen=True)
class Operator:
    """The operator's account (FLEETGATE_REGISTRY_USER): fleetgate's builds push with it."""

    name: str


@dataclass(frozen=True)
class Device:
    """A device, by its uuid and its fleet's slug (`owner/name`)."""

    uuid: str
    fleet: str


@dataclass(frozen=True)
class FleetPuller:
    """A rollout's pull credential for one fleet (servers pull with it)."""

    fleet: str


Identity = Operator | Device | FleetPuller | None  # None: anonymous, or nothing fleetgate knows


def parse_scope(text: str) -> Scope:
    """One `repository:owner/fleet/service:pull,push` scope; raise ScopeError naming the format."""
    found = _SCOPE.match(text)
    actions = tuple(dict.fromkeys(a for a in (found["actions"] if found else "").split(",") if a))
    if not found or not all(_ACTION.match(a) for a in actions):
        raise ScopeError(
            f"scope {text[:200]!r} is not TYPE:NAME:ACTION[,ACTION]; e.g. repository:alice/demo/main:pull"
        )
    return Scope(found["type"], found["name"], actions, found["cls"] or "")


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    """Every scope of the request: several `scope` parameters, each maybe several, space-separated."""
    return tuple(parse_scope(part) for value in values for part in value.split())


def _fleet_of(repository: str) -> str | None:
    """`owner/fleet` of an image repository `owner/fleet/service` (the only shape fleetgate pushes)."""
    parts = repository.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return f"{parts[0]}/{parts[1]}"


def allowed(identity: Identity, scope: Scope) -> frozenset[str]:
    """The actions `identity` may take on `scope`'s resource, whatever it asked for."""
    if scope.type != "repository" or scope.resource_class:
        return frozenset()
    if isinstance(identity, Operator):  # delete: `fleetgate prune` deletes manifests beyond the retention
        return frozenset({"pull", "push", "delete"})
    fleet = _fleet_of(scope.name)
    if isinstance(identity, Device | FleetPuller) and fleet is not None and fleet == identity.fleet:
        return frozenset({"pull"})
    return frozenset()


def grants(identity: Identity, scopes: Iterable[Scope]) -> tuple[Scope, ...]:
    """The scopes asked for, cut to what `identity` may do; scopes left with no action are dropped."""
    granted = []
    for scope in scopes:
        may = allowed(identity, scope)
        actions = tuple(a for a in scope.actions if a in may)
        if actions:
            granted.append(Scope(scope.type, scope.name, actions, scope.resource_class))
    return tuple(granted)


def subject(identity: Identity) -> str:
    """The token's `sub`: who it was issued to (the registry logs it)."""
    match identity:
        case Operator(name=name):
            return name
        case Device(uuid=uuid):
            return uuid
        case FleetPuller(fleet=fleet):
            return PULL_USER_PREFIX + fleet
    return ""


@dataclass(frozen=True)
class Signer:
    """What signs tokens: the issuer and service names, the PEM private key and the DER certificate."""

    issuer: str
    service: str
    private_key_pem: bytes
    certificate_der: bytes


def claims(signer: Signer, identity: Identity, granted: Iterable[Scope], now: int, jti: str) -> dict:
    """The JWT claim set distribution checks; `aud` is a string, as 2.8's ClaimSet wants it."""
    return {
        "iss": signer.issuer,
        "sub": subject(identity),
        "aud": signer.service,
        "exp": now + TOKEN_SECONDS,
        # The registry allows 60 s of clock skew; issuing `nbf` a little early spares a fresh token
        # that meets a registry clock just behind ours.
        "nbf": now - 10,
        "iat": now,
        "jti": jti,
        "access": [scope.claim() for scope in granted],
    }


def sign(signer: Signer, claim_set: dict) -> str:
    """The compact JWT; `x5c` carries the certificate, which the registry checks against its bundle."""
    x5c = [base64.b64encode(signer.certificate_der).decode()]  # standard base64, not URL-safe (RFC 7515)
    return jwt.encode(claim_set, signer.private_key_pem, algorithm=ALGORITHM, headers={"x5c": x5c})


def token_response(token: str, now: int) -> dict[str, object]:
    """The body the Docker client reads: both names of the token, its lifetime and issue time."""
    issued = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"token": token, "access_token": token, "expires_in": TOKEN_SECONDS, "issued_at": issued}


def pull_credential(secret: bytes, fleet: str, now: int) -> tuple[str, str]:
    """A rollout's username and password that pull `fleet`'s images until it expires (no database row)."""
    user = PULL_USER_PREFIX + fleet
    expires = now + PULL_CREDENTIAL_SECONDS
    return user, f"{expires}.{_mac(secret, user, expires)}"


def _mac(secret: bytes, user: str, expires: int) -> str:
    return hmac.new(secret, f"{user}\n{expires}".encode(), hashlib.sha256).hexdigest()


def known_identity(
    user: str, password: str, operator: tuple[str, str] | None, secret: bytes, now: int
) -> Operator | FleetPuller | None:
    """The operator or a rollout puller these credentials prove; None: not one of those (a device?).

    Raises BadCredentials for the operator's name or a rollout name with a wrong or expired password.
    """
    if operator is not None and hmac.compare_digest(user.encode(), operator[0].encode()):
        if hmac.compare_digest(password.encode(), operator[1].encode()):
            return Operator(user)
        raise BadCredentials("wrong password for the registry's operator account")
    if not user.startswith(PULL_USER_PREFIX):
        return None
    expires, _, mac = password.partition(".")
    if not expires.isdigit() or not hmac.compare_digest(mac, _mac(secret, user, int(expires))):
        raise BadCredentials(f"wrong pull credential for {user}; start the rollout again")
    if int(expires) < now:
        raise BadCredentials(f"the pull credential for {user} expired; start the rollout again")
    return FleetPuller(user[len(PULL_USER_PREFIX) :])
