"""Daemon images: the tags a build daemon holds, and their removal (issue 19, `fleetgate prune`).

A build tags its image `fleetgate/<owner>/<fleet>/<service>:<release-hash>` and publishing adds
`<registry>/<owner>/<fleet>/<service>:<release-hash>`; removing a release's tags removes its image once
no other tag names it (an identical build of a kept release keeps it). Nothing is forced: an image a
container uses stays, and the refusal is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import closing

import docker
import docker.errors
import requests.exceptions

NO_TAG = "<none>:<none>"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class DaemonError(RuntimeError):
    """The build daemon could not be asked (down, refused); the operator's to fix, said in one line."""


def _client(docker_host: str | None) -> docker.DockerClient:
    return docker.DockerClient(base_url=docker_host or DEFAULT_SOCKET, timeout=120)


def _one_line(error: object) -> str:
    return " ".join(str(error).split())[:300]


def list_tags(docker_host: str | None) -> list[str]:
    """Every `repository:tag` the daemon holds."""
    try:
        with closing(_client(docker_host)) as client:
            images = client.api.images()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        raise DaemonError(f"cannot list its images: {_one_line(error)}") from None
    return [tag for image in images for tag in image.get("RepoTags") or () if tag != NO_TAG]


def remove_tags(docker_host: str | None, tags: Iterable[str]) -> dict[str, str]:
    """Remove each tag (and its image when no other tag names it); what the daemon refused, and why."""
    refused: dict[str, str] = {}
    try:
        with closing(_client(docker_host)) as client:
            for tag in tags:
                try:
                    client.api.remove_image(tag)
                except docker.errors.NotFound:
                    pass  # gone meanwhile: as good as removed
                except docker.errors.APIError as error:
                    refused[tag] = _one_line(error.explanation or error)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
        raise DaemonError(f"cannot remove images: {_one_line(error)}") from None
    return refused
