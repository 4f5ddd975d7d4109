"""fleetgate as the registry's token server: a real registry with `auth: token`, real Docker daemons.

The operator's account pushes (fleetgate's publish, through the daemon's token dance), a device's uuid
and API key pull its own fleet's images and nothing else, a rollout's pull credential likewise, a bad
password is refused, and a `git push` builds and publishes into the token-auth registry.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import docker
import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fleetgate.build.publish import Published, PublishFailed, Registry, publish
from fleetgate.build.registry_manifests import RegistryClient, RegistryError
from fleetgate.deploy.registry_token_route import rollout_registry

from fleetgate import settings as fleetgate_settings

from ..conftest import AUTH_PASSWORD, AUTH_USER
from ..support import git
from .conftest import TokenSetup, new_fleet

PROJECTS = Path(__file__).resolve().parents[2] / "projects"
IMAGE = "busybox-fg-amd64"


def token_claims(setup: TokenSetup, auth: tuple[str, str] | None, *scopes: str) -> dict:
    """Ask the realm for a token and decode it with the certificate the registry trusts."""
    answer = httpx.get(setup.realm, params={"service": setup.registry, "scope": list(scopes)}, auth=auth)
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert answer.json()["access_token"] == token and answer.json()["expires_in"] == 300
    cert_pem = fleetgate_settings.load(setup.gw.env).registry_token_cert_path.read_bytes()
    header = jwt.get_unverified_header(token)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert base64.standard_b64decode(header["x5c"][0]) == cert.public_bytes(Encoding.DER)
    return jwt.decode(
        token, cert.public_key(), algorithms=["ES256"], audience=setup.registry, issuer="fleetgate"
    )


@pytest.fixture(scope="module")
def published(token_setup: TokenSetup) -> dict[str, Published]:
    """busybox published by fleetgate's publish (operator account) into alice/tok-a and alice/tok-b.

    Each fleet gets an image of its own: a Docker daemon that holds a manifest (pulled under another
    repository) answers a pull of the same digest from its content store without asking the registry,
    and a test that one fleet's credential cannot pull the other's image then passed or failed by chance.
    """
    setup = token_setup
    for slug in ("alice/tok-a", "alice/tok-b"):
        new_fleet(setup, slug)
    registry = Registry(setup.registry, AUTH_USER, AUTH_PASSWORD)
    client = docker.from_env()
    own = _variant(client, IMAGE, "tok-b")
    try:
        images = {"tok-a": IMAGE, "tok-b": own}
        return {fleet: publish(images[fleet], registry, "alice", fleet, "main", "t1") for fleet in images}
    finally:
        client.images.remove(own, force=True)


def _variant(client: docker.DockerClient, image: str, label: str) -> str:
    """A new image id: `image` with one more label (a container is created, never started)."""
    container = client.containers.create(image, command=["true"])
    try:
        return container.commit(changes=[f"LABEL fleetgate.test={label}"]).id
    finally:
        container.remove()


def test_the_token_route(token_setup: TokenSetup, published: dict[str, Published]) -> None:
    setup = token_setup
    uuid, api_key = setup.register("alice/tok-a")
    own, other = "repository:alice/tok-a/main:pull,push", "repository:alice/tok-b/main:pull"

    operator = token_claims(setup, (AUTH_USER, AUTH_PASSWORD), own, other)
    assert operator["sub"] == AUTH_USER
    assert operator["access"] == [
        {"type": "repository", "name": "alice/tok-a/main", "actions": ["pull", "push"]},
        {"type": "repository", "name": "alice/tok-b/main", "actions": ["pull"]},
    ]
    device = token_claims(setup, (uuid, api_key), own, other)
    assert device["sub"] == uuid
    assert device["access"] == [{"type": "repository", "name": "alice/tok-a/main", "actions": ["pull"]}]
    assert token_claims(setup, None, own)["access"] == []  # anonymous: a token that grants nothing

    for auth in (
        (uuid, "wrong-key"),
        (AUTH_USER, "wrong"),
        ("0" * 32, api_key),
        ("rollout/alice/tok-a", "1.x"),
    ):
        refused = httpx.get(setup.realm, params={"service": setup.registry, "scope": own}, auth=auth)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Basic ")
        assert refused.json()["detail"]
    # A removed device's key is revoked: the token server refuses it from then on.
    gone_uuid, gone_key = setup.register("alice/tok-a")
    assert token_claims(setup, (gone_uuid, gone_key), own)["access"]
    setup.gw.cli("device", "remove", gone_uuid)
    gone = httpx.get(setup.realm, params={"scope": own}, auth=(gone_uuid, gone_key))
    assert gone.status_code == 401, gone.text
    bad_scope = httpx.get(setup.realm, params={"scope": "alice/tok-a/main"}, auth=(uuid, api_key))
    assert bad_scope.status_code == 400 and "TYPE:NAME:ACTION" in bad_scope.json()["detail"]
    bad_service = httpx.get(setup.realm, params={"service": "elsewhere:5000"}, auth=(uuid, api_key))
    assert bad_service.status_code == 400 and "elsewhere:5000" in bad_service.json()["detail"]


def test_the_operator_pushes_and_a_wrong_password_cannot(
    token_setup: TokenSetup, published: dict[str, Published]
) -> None:
    # publish() pushed through the daemon (401 → our realm with basic auth → token) and verified the
    # digest with its own HEAD (the same dance in Python): both went through the token server.
    for fleet, image in published.items():
        assert image.reference == f"{token_setup.registry}/alice/{fleet}/main@{image.digest}"
    with pytest.raises(PublishFailed):
        publish(IMAGE, Registry(token_setup.registry, AUTH_USER, "wrong"), "alice", "tok-a", "main", "t2")


def login(setup: TokenSetup, config: Path, user: str, password: str):
    return setup.device_cli(config, "login", setup.registry, "-u", user, "-p", password)


def test_a_device_pulls_its_own_fleets_images_only(
    token_setup: TokenSetup, published: dict[str, Published], tmp_path: Path
) -> None:
    setup = token_setup
    uuid, api_key = setup.register("alice/tok-a")
    config = tmp_path / "docker-config"

    # Without credentials, nothing at all (an anonymous token grants no access).
    anonymous = setup.device_cli(config, "pull", published["tok-a"].reference)
    assert anonymous.returncode != 0 and "denied" in anonymous.stderr, anonymous.stderr
    refused = login(setup, config, uuid, "not-the-key")
    assert refused.returncode != 0 and "unauthorized" in refused.stderr.lower(), refused.stderr
    logged_in = login(setup, config, uuid, api_key)
    assert logged_in.returncode == 0 and "Login Succeeded" in logged_in.stdout, logged_in.stderr

    own = setup.device_cli(config, "pull", published["tok-a"].reference)
    assert own.returncode == 0, own.stderr
    assert setup.device_cli(config, "image", "inspect", published["tok-a"].reference).returncode == 0
    other = setup.device_cli(config, "pull", published["tok-b"].reference)
    assert other.returncode != 0
    assert "denied" in other.stderr or "unauthorized" in other.stderr, other.stderr
    setup.device_cli(config, "rmi", "-f", published["tok-a"].reference)


def test_a_rollout_credential_pulls_its_fleets_images_only(
    token_setup: TokenSetup, published: dict[str, Published], tmp_path: Path
) -> None:
    setup = token_setup
    server, user, password = rollout_registry(fleetgate_settings.load(setup.gw.env), "alice/tok-b")
    assert server == setup.registry and user == "rollout/alice/tok-b"
    config = tmp_path / "docker-config"
    logged_in = login(setup, config, user, password)
    assert logged_in.returncode == 0, logged_in.stderr
    assert setup.device_cli(config, "pull", published["tok-b"].reference).returncode == 0
    other = setup.device_cli(config, "pull", published["tok-a"].reference)
    assert other.returncode != 0 and ("denied" in other.stderr or "unauthorized" in other.stderr)
    forged = login(setup, tmp_path / "forged", "rollout/alice/tok-a", password)
    assert forged.returncode != 0 and "unauthorized" in forged.stderr.lower(), forged.stderr
    setup.device_cli(config, "rmi", "-f", published["tok-b"].reference)


def test_git_push_publishes_into_the_token_registry_and_the_device_runs_it(
    token_setup: TokenSetup, tmp_path: Path
) -> None:
    setup = token_setup
    gw = setup.gw
    key = new_fleet(setup, "alice/tok-push")
    work = tmp_path / "work"
    shutil.copytree(PROJECTS / "dockerfile-plain", work)
    git("init", "-q", "-b", "master", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "plain", cwd=work)
    git("push", gw.url("alice/tok-push"), "master", cwd=work, key=key, gw=gw)

    shown = json.loads(gw.cli("release", "show", "alice/tok-push#1", "--json").stdout)
    assert shown["status"] == "success"
    reference = shown["images"][0]["image"]
    assert reference.startswith(f"{setup.registry}/alice/tok-push/main@sha256:")

    uuid, api_key = setup.register("alice/tok-push")
    config = tmp_path / "docker-config"
    assert login(setup, config, uuid, api_key).returncode == 0
    pulled = setup.device_cli(config, "pull", reference)
    assert pulled.returncode == 0, pulled.stderr
    ran = setup.device_cli(config, "run", "--rm", "--network", "none", reference)
    assert ran.returncode == 0 and ran.stdout.strip() == "rule=dockerfile", ran.stderr
    setup.device_cli(config, "rmi", "-f", reference)


def test_without_token_auth_the_route_says_how_to_turn_it_on(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from fleetgate.deploy.registry_token_route import registry_token_router

    from fleetgate.db import Database

    settings = fleetgate_settings.load({"FLEETGATE_HOME": str(tmp_path), "FLEETGATE_REGISTRY": "r:5000"})
    app = FastAPI()
    app.include_router(registry_token_router(settings, Database(settings.database_url)))
    answer = TestClient(app).get("/v1/registry/token", params={"scope": "repository:a/b/c:pull"})
    assert answer.status_code == 404 and "FLEETGATE_REGISTRY_AUTH=token" in answer.json()["detail"]
    assert not settings.registry_token_key_path.exists()  # no key is made while token auth is off


def test_the_operator_deletes_manifests_for_prune_and_a_device_cannot(
    token_setup: TokenSetup, published: dict[str, Published]
) -> None:
    # Last in the module: it deletes alice/tok-b's image. `fleetgate prune` talks to the registry so.
    setup, image = token_setup, published["tok-b"]
    uuid, api_key = setup.register("alice/tok-b")
    device = RegistryClient(Registry(setup.registry, uuid, api_key))
    assert device.digest("alice/tok-b/main", "t1") == image.digest  # it may pull
    with pytest.raises(RegistryError, match="answered 401 to DELETE /v2/alice/tok-b/main/manifests/"):
        device.delete("alice/tok-b/main", image.digest)
    operator = RegistryClient(Registry(setup.registry, AUTH_USER, AUTH_PASSWORD))
    assert operator.tags("alice/tok-b/main") == ["t1"]
    assert operator.delete("alice/tok-b/main", image.digest) is True
    assert (operator.digest("alice/tok-b/main", "t1"), operator.tags("alice/tok-b/main")) == (None, [])
    assert operator.delete("alice/tok-b/main", image.digest) is False  # gone already: nothing to say
