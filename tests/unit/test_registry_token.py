"""Registry tokens: scope parsing, grants, credentials and the signed JWT, as tables (issue 4)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from fleetgate.deploy import registry_token as rt
from fleetgate.deploy.registry_keys import SigningKeyError, load_or_create
from fleetgate.deploy.registry_token import (
    BadCredentials,
    Device,
    FleetPuller,
    Operator,
    Scope,
    ScopeError,
)

from fleetgate import settings

OPERATOR = Operator("fleetgate")
ALICE_DEVICE = Device("a" * 32, "alice/demo")
ALICE_PULLER = FleetPuller("alice/demo")


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("repository:alice/demo/main:pull", Scope("repository", "alice/demo/main", ("pull",))),
        ("repository:alice/demo/main:pull,push", Scope("repository", "alice/demo/main", ("pull", "push"))),
        (
            "repository:alice/demo/main:push,pull,push",
            Scope("repository", "alice/demo/main", ("push", "pull")),
        ),
        ("repository:alice/demo/main:*", Scope("repository", "alice/demo/main", ("*",))),
        ("repository:alice/demo/main:", Scope("repository", "alice/demo/main", ())),
        # A name may carry a registry host with a port: the type ends at the first colon, actions at the last.
        ("repository:127.0.0.1:5000/a/b:pull", Scope("repository", "127.0.0.1:5000/a/b", ("pull",))),
        ("repository(plugin):alice/p:pull", Scope("repository", "alice/p", ("pull",), "plugin")),
        ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
    ],
)
def test_scope_parsing(text: str, scope: Scope) -> None:
    assert rt.parse_scope(text) == scope


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repository",
        "repository:alice/demo",
        ":alice:pull",
        "repository::pull",
        "Repository:a/b/c:pull",
        "repository:a/b/c:PULL",
        "repository:a/b/c:pull;push",
    ],
)
def test_bad_scopes(text: str) -> None:
    with pytest.raises(ScopeError, match="TYPE:NAME:ACTION"):
        rt.parse_scope(text)


def test_several_scopes_in_several_parameters_and_space_separated() -> None:
    assert rt.parse_scopes(["repository:a/b/c:pull repository:a/b/d:pull", "repository:a/b/e:push"]) == (
        Scope("repository", "a/b/c", ("pull",)),
        Scope("repository", "a/b/d", ("pull",)),
        Scope("repository", "a/b/e", ("push",)),
    )
    assert rt.parse_scopes([]) == ()


PULL_PUSH = ("pull", "push")


@pytest.mark.parametrize(
    ("identity", "scope", "granted"),
    [
        (OPERATOR, "repository:alice/demo/main:pull,push", PULL_PUSH),
        (OPERATOR, "repository:bob/other/web:pull,push", PULL_PUSH),
        (OPERATOR, "repository:anything:pull", ("pull",)),
        (OPERATOR, "repository:alice/demo/main:delete,pull", ("delete", "pull")),  # delete: for prune
        (OPERATOR, "repository:alice/demo/main:delete,admin", ("delete",)),  # and no more
        (OPERATOR, "repository:alice/demo/main:*", ()),
        (OPERATOR, "registry:catalog:*", ()),
        (ALICE_DEVICE, "repository:alice/demo/main:pull", ("pull",)),
        (ALICE_DEVICE, "repository:alice/demo/main:pull,push", ("pull",)),  # never push
        (ALICE_DEVICE, "repository:alice/demo/main:push", ()),
        (ALICE_DEVICE, "repository:alice/other/main:pull", ()),  # another fleet of the same owner
        (ALICE_DEVICE, "repository:bob/demo/main:pull", ()),
        (ALICE_DEVICE, "repository:alice/demo:pull", ()),  # not an owner/fleet/service image
        (ALICE_DEVICE, "repository:alice/demo/main/x:pull", ()),
        (ALICE_DEVICE, "repository:alice/demox/main:pull", ()),  # a prefix is not the fleet
        (ALICE_DEVICE, "repository(plugin):alice/demo/main:pull", ()),
        (ALICE_DEVICE, "registry:catalog:*", ()),
        (ALICE_PULLER, "repository:alice/demo/web:pull,push", ("pull",)),
        (ALICE_PULLER, "repository:bob/demo/web:pull", ()),
        (None, "repository:alice/demo/main:pull", ()),  # anonymous
    ],
)
def test_grants(identity: rt.Identity, scope: str, granted: tuple[str, ...]) -> None:
    parsed = rt.parse_scope(scope)
    expected = (Scope(parsed.type, parsed.name, granted, parsed.resource_class),) if granted else ()
    assert rt.grants(identity, [parsed]) == expected


def test_grants_keep_each_scope_apart() -> None:
    scopes = rt.parse_scopes(["repository:alice/demo/main:pull repository:bob/x/main:pull"])
    assert rt.grants(ALICE_DEVICE, scopes) == (Scope("repository", "alice/demo/main", ("pull",)),)


SECRET = b"s" * 32
NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("user", "password", "now", "result"),
    [
        ("fleetgate", "fleetgate-ci", NOW, OPERATOR),
        ("fleetgate", "wrong", NOW, BadCredentials),
        ("a" * 32, "whatever", NOW, None),  # a device: the database decides
        ("rollout/alice/demo", "good", NOW, ALICE_PULLER),
        ("rollout/alice/demo", "good", NOW + rt.PULL_CREDENTIAL_SECONDS, ALICE_PULLER),
        ("rollout/alice/demo", "good", NOW + rt.PULL_CREDENTIAL_SECONDS + 1, BadCredentials),  # expired
        ("rollout/bob/demo", "good", NOW, BadCredentials),  # alice's credential, bob's name
        ("rollout/alice/demo", "9999999999.00", NOW, BadCredentials),
        ("rollout/alice/demo", "", NOW, BadCredentials),
    ],
)
def test_known_identity(user: str, password: str, now: int, result: object) -> None:
    issued_user, issued_password = rt.pull_credential(SECRET, "alice/demo", NOW)
    assert issued_user == "rollout/alice/demo"
    if password == "good":
        password = issued_password
    operator = ("fleetgate", "fleetgate-ci")
    if result is BadCredentials:
        with pytest.raises(BadCredentials):
            rt.known_identity(user, password, operator, SECRET, now)
    else:
        assert rt.known_identity(user, password, operator, SECRET, now) == result


def test_a_credential_from_another_secret_is_refused() -> None:
    user, password = rt.pull_credential(b"x" * 32, "alice/demo", NOW)
    with pytest.raises(BadCredentials):
        rt.known_identity(user, password, None, SECRET, NOW)


def test_without_an_operator_account_no_one_is_the_operator() -> None:
    assert rt.known_identity("fleetgate", "fleetgate-ci", None, SECRET, NOW) is None


@pytest.mark.parametrize(
    ("identity", "sub"),
    [(OPERATOR, "fleetgate"), (ALICE_DEVICE, "a" * 32), (ALICE_PULLER, "rollout/alice/demo"), (None, "")],
)
def test_subjects(identity: rt.Identity, sub: str) -> None:
    assert rt.subject(identity) == sub


def test_the_token_decodes_with_the_certificate(tmp_path) -> None:
    key = load_or_create(tmp_path / "key.pem", tmp_path / "cert.pem")
    signer = key.signer("fleetgate", "127.0.0.1:5002")
    granted = rt.grants(ALICE_DEVICE, rt.parse_scopes(["repository:alice/demo/main:pull,push"]))
    claims = rt.claims(signer, ALICE_DEVICE, granted, NOW, "j" * 32)
    token = rt.sign(signer, claims)

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    # x5c is standard base64 of the DER certificate (distribution decodes it with StdEncoding).
    cert = x509.load_der_x509_certificate(base64.standard_b64decode(header["x5c"][0]))
    assert cert == x509.load_pem_x509_certificate((tmp_path / "cert.pem").read_bytes())
    decoded = jwt.decode(
        token,
        cert.public_key(),
        algorithms=["ES256"],
        audience="127.0.0.1:5002",
        issuer="fleetgate",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert decoded == {
        "iss": "fleetgate",
        "sub": "a" * 32,
        "aud": "127.0.0.1:5002",  # a string: distribution 2.8's ClaimSet has `Audience string`
        "exp": NOW + rt.TOKEN_SECONDS,
        "nbf": NOW - 10,
        "iat": NOW,
        "jti": "j" * 32,
        "access": [{"type": "repository", "name": "alice/demo/main", "actions": ["pull"]}],
    }
    body = rt.token_response(token, NOW)
    assert body == {
        "token": token,
        "access_token": token,
        "expires_in": rt.TOKEN_SECONDS,
        "issued_at": "2027-01-15T08:00:00Z",
    }


def test_the_key_is_private_made_once_and_checked(tmp_path) -> None:
    key_path, cert_path = tmp_path / "home" / "key.pem", tmp_path / "home" / "cert.pem"
    first = load_or_create(key_path, cert_path)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert load_or_create(key_path, cert_path) == first
    assert first.pull_secret() == load_or_create(key_path, cert_path).pull_secret()
    other = tmp_path / "other"
    other.mkdir()
    load_or_create(other / "key.pem", other / "cert.pem")
    cert_path.write_bytes((other / "cert.pem").read_bytes())
    with pytest.raises(SigningKeyError, match="is not the certificate of"):
        load_or_create(key_path, cert_path)
    key_path.write_text("garbage")
    with pytest.raises(SigningKeyError, match="delete both"):
        load_or_create(key_path, cert_path)


TOKEN_ENV = {
    "FLEETGATE_HOME": "/srv/fg",
    "FLEETGATE_REGISTRY": "reg.example:5000",
    "FLEETGATE_REGISTRY_USER": "fleetgate",
    "FLEETGATE_REGISTRY_PASSWORD": "secret",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("basic", "fleetgate", "fleetgate")),
        ({"FLEETGATE_REGISTRY": "reg.example:5000"}, ("basic", "reg.example:5000", "fleetgate")),
        ({**TOKEN_ENV, "FLEETGATE_REGISTRY_AUTH": "token"}, ("token", "reg.example:5000", "fleetgate")),
        ({**TOKEN_ENV, "FLEETGATE_REGISTRY_AUTH": "TOKEN"}, ("token", "reg.example:5000", "fleetgate")),
        (
            {
                **TOKEN_ENV,
                "FLEETGATE_REGISTRY_AUTH": "token",
                "FLEETGATE_REGISTRY_TOKEN_SERVICE": "registry",
                "FLEETGATE_REGISTRY_TOKEN_ISSUER": "fg-prod",
            },
            ("token", "registry", "fg-prod"),
        ),
    ],
)
def test_settings(env: dict[str, str], expected: tuple[str, str, str]) -> None:
    loaded = settings.load({"FLEETGATE_HOME": "/srv/fg", **env})
    assert (loaded.registry_auth, loaded.registry_token_service, loaded.registry_token_issuer) == expected
    assert loaded.registry_token_key_path == Path("/srv/fg/registry_token_key.pem")
    assert loaded.registry_token_cert_path == Path("/srv/fg/registry_token_cert.pem")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLEETGATE_REGISTRY_AUTH": "htpasswd"}, "neither basic nor token"),
        ({"FLEETGATE_REGISTRY_AUTH": "token"}, "needs FLEETGATE_REGISTRY"),
        ({**TOKEN_ENV, "FLEETGATE_REGISTRY_PASSWORD": "", "FLEETGATE_REGISTRY_AUTH": "token"}, "_PASSWORD"),
    ],
)
def test_settings_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.load({"FLEETGATE_HOME": "/srv/fg", **env})
