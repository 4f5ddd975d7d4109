"""Publish: tag a built image, push it to the registry, and verify the digest with the registry."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass

import docker
import docker.errors
import requests.exceptions

from .upload_progress import Uploaded, UploadTally

# Docker v2 and OCI manifests (and their lists): the registry must answer for whichever the daemon pushed.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME_PART = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


class PublishFailed(Exception):
    """The registry or the daemon refused or broke the push: the operator's fault."""

    def __init__(self, message: str, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service  # the service whose image it was, once the release's publish knows it


@dataclass(frozen=True)
class Registry:
    """Where images go: host:port and the credentials it asks for, if any."""

    host: str
    user: str | None = None
    password: str | None = None
    scheme: str | None = None  # None: plain http on loopback (as the daemon does), https elsewhere

    @property
    def base_url(self) -> str:
        """The registry's URL root."""
        hostname = self.host.rsplit(":", 1)[0]
        loopback = hostname == "localhost" or hostname.startswith("127.") or hostname == "[::1]"
        return f"{self.scheme or ('http' if loopback else 'https')}://{self.host}"


@dataclass(frozen=True)
class Published:
    """An image in its final place: a reference by digest, the digest and the image's size in bytes."""

    reference: str
    digest: str
    size: int


def image_repository(registry: Registry, owner: str, fleet: str, service: str) -> str:
    """`<registry>/<owner>/<fleet>/<service>`, each part a valid lower-case repository component."""
    for part in (owner, fleet, service):
        if not NAME_PART.match(part):
            raise PublishFailed(
                f"{part!r} cannot be part of an image name: use lower-case letters and digits"
            )
    return f"{registry.host}/{owner}/{fleet}/{service}"


def publish(
    image_id: str,
    registry: Registry,
    owner: str,
    fleet: str,
    service: str,
    release_hash: str,
    docker_host: str | None = None,
    on_progress: Callable[[Uploaded], None] | None = None,
) -> Published:
    """Tag, push and verify one service's image; raise PublishFailed with a one-line reason."""
    repository = image_repository(registry, owner, fleet, service)
    try:
        with closing(_client(docker_host)) as client:
            image = client.images.get(image_id)
            image.tag(repository, release_hash)
            auth = {"username": registry.user, "password": registry.password} if registry.user else None
            chunks = client.images.push(
                repository, tag=release_hash, stream=True, decode=True, auth_config=auth
            )
            digest = push_digest(chunks, f"{repository}:{release_hash}", on_progress)
            size = int(image.attrs.get("Size") or 0)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise PublishFailed(f"pushing {repository}:{release_hash} failed: {_one_line(exc)}") from exc
    remote = registry_digest(registry, repository.split("/", 1)[1], release_hash)
    if remote != digest:
        raise PublishFailed(
            f"registry {registry.host} serves {remote} for {repository}:{release_hash};"
            f" the push said {digest}"
        )
    return Published(reference=f"{repository}@{digest}", digest=digest, size=size)


def keep_local(image_id: str, docker_host: str | None = None) -> Published:
    """No registry configured: the image stays in the daemon, referenced by its id."""
    try:
        with closing(_client(docker_host)) as client:
            image = client.images.get(image_id)
            return Published(reference=image.id, digest=image.id, size=int(image.attrs.get("Size") or 0))
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise PublishFailed(
            f"cannot find the built image {image_id} in the daemon: {_one_line(exc)}"
        ) from exc


def _client(docker_host: str | None) -> docker.DockerClient:
    """A client for the daemon that built the image (Docker's default socket when none is named)."""
    return docker.DockerClient(base_url=docker_host or "unix:///var/run/docker.sock", timeout=600)


def push_digest(
    chunks: Iterable[dict], what: str, on_progress: Callable[[Uploaded], None] | None = None
) -> str:
    """The digest from a decoded push stream; any error chunk fails the push (a 200 is not success)."""
    digest = None
    tally = UploadTally()
    for chunk in chunks:
        if on_progress is not None:
            on_progress(tally.add(chunk))
        error = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message")
        if error:
            raise PublishFailed(f"the registry refused {what}: {_one_line(error)}")
        aux = chunk.get("aux") or {}
        if aux.get("Digest"):
            digest = aux["Digest"]
    if not digest or not DIGEST.match(digest):
        raise PublishFailed(f"pushing {what} ended without a digest from the registry")
    return digest


def registry_digest(registry: Registry, name: str, reference: str) -> str:
    """Ask the registry which digest it now serves for name:reference (HEAD on the manifest)."""
    url = f"{registry.base_url}/v2/{name}/manifests/{reference}"
    headers = {"Accept": MANIFEST_TYPES}
    try:
        response = _head(url, headers, registry)
    except (urllib.error.URLError, OSError) as exc:
        raise PublishFailed(
            f"cannot verify {name}:{reference} with {registry.host}: {_one_line(exc)}"
        ) from exc
    digest = response.headers.get("Docker-Content-Digest", "")
    if not DIGEST.match(digest):
        raise PublishFailed(f"registry {registry.host} gave no digest for {name}:{reference}")
    return digest


def _head(url: str, headers: dict[str, str], registry: Registry):
    """HEAD with basic auth, or with a bearer token when the registry asks for one."""
    if registry.user:
        headers = {**headers, "Authorization": "Basic " + _basic(registry)}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers, method="HEAD"), timeout=30)
    except urllib.error.HTTPError as exc:
        challenge = exc.headers.get("WWW-Authenticate", "")
        if exc.code != 401 or not challenge.lower().startswith("bearer "):
            raise PublishFailed(f"registry {registry.host} answered {exc.code} for {url}") from exc
    headers = {**headers, "Authorization": "Bearer " + _token(challenge, registry)}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers, method="HEAD"), timeout=30)
    except urllib.error.HTTPError as exc:
        raise PublishFailed(f"registry {registry.host} answered {exc.code} for {url}") from exc


def _token(challenge: str, registry: Registry) -> str:
    """A bearer token from the registry's token service (the Docker token auth flow)."""
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = params.pop("realm", "")
    request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(params)}")
    if registry.user:
        request.add_header("Authorization", "Basic " + _basic(registry))
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    return body.get("token") or body.get("access_token") or ""


def _basic(registry: Registry) -> str:
    """The basic-auth credential for the registry."""
    return base64.b64encode(f"{registry.user}:{registry.password or ''}".encode()).decode()


def _one_line(error: object) -> str:
    """An error as one short line (daemon and registry errors can span lines)."""
    text = " ".join(str(error).split())
    return text[:300]
