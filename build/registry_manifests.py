"""Registry manifests: a repository's tags, the digest a tag names, and deleting a manifest by digest.

The registry API of Docker's distribution (v2): `GET /v2/<name>/tags/list` (paged by `Link`),
`HEAD /v2/<name>/manifests/<tag>` (`Docker-Content-Digest`), `DELETE /v2/<name>/manifests/<digest>`,
which the registry refuses (405) unless its config has `storage: {delete: {enabled: true}}`; a deleted
manifest's tags go with it. Blobs are freed only by the registry's own `garbage-collect`. Credentials
as the build publishes with: basic, or a bearer token from the registry's token service.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .publish import DIGEST, MANIFEST_TYPES, Registry

TIMEOUT = 30
PAGE = 1000  # tags asked for per page
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class RegistryError(RuntimeError):
    """The registry refused or could not be reached; one line for the operator."""


@dataclass
class RegistryClient:
    """Talks to one registry; keeps the bearer tokens it was given, per scope, for its life (one prune)."""

    registry: Registry
    _tokens: dict[str, str] = field(default_factory=dict)

    def tags(self, repository: str) -> list[str]:
        """The repository's tags; none for a repository the registry does not know."""
        url: str | None = f"{self.registry.base_url}/v2/{repository}/tags/list?n={PAGE}"
        found: list[str] = []
        while url:
            status, headers, body = self._send("GET", url)
            if status == 404:
                return found
            found += json.loads(body or b"{}").get("tags") or []
            following = _NEXT.search(headers.get("Link", ""))
            url = urllib.parse.urljoin(url, following.group(1)) if following else None
        return found

    def digest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for `repository:reference`; None when it has none."""
        status, headers, _ = self._send("HEAD", self._manifest(repository, reference))
        digest = headers.get("Docker-Content-Digest", "")
        if status == 404:
            return None
        if not DIGEST.match(digest):
            raise RegistryError(f"registry {self.registry.host} gave no digest for {repository}:{reference}")
        return digest

    def delete(self, repository: str, digest: str) -> bool:
        """Delete the manifest (and every tag naming it); False when it was gone already."""
        status, _, _ = self._send("DELETE", self._manifest(repository, digest))
        return status != 404

    def _manifest(self, repository: str, reference: str) -> str:
        return f"{self.registry.base_url}/v2/{repository}/manifests/{reference}"

    def _send(self, method: str, url: str) -> tuple[int, Any, bytes]:
        """One request with the credentials the registry asks for; 404 is an answer, other errors raise."""
        headers = {"Accept": MANIFEST_TYPES}
        if self.registry.user:
            headers["Authorization"] = "Basic " + self._basic()
        try:
            return self._open(method, url, headers)
        except urllib.error.HTTPError as error:
            challenge = error.headers.get("WWW-Authenticate", "")
            if error.code != 401 or not challenge.lower().startswith("bearer "):
                return self._refused(method, url, error)
        headers["Authorization"] = "Bearer " + self._token(challenge)
        try:
            return self._open(method, url, headers)
        except urllib.error.HTTPError as error:
            return self._refused(method, url, error)

    def _open(self, method: str, url: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
        request = urllib.request.Request(url, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as error:
            raise RegistryError(f"registry {self.registry.host} cannot be reached: {error}") from None

    def _refused(self, method: str, url: str, error: urllib.error.HTTPError) -> tuple[int, Any, bytes]:
        if error.code == 404:
            return 404, error.headers, b""
        if error.code == 405 and method == "DELETE":
            raise RegistryError(
                f"registry {self.registry.host} does not delete manifests: enable it in its config.yml "
                "(storage: {delete: {enabled: true}}) and restart it"
            ) from None
        path = urllib.parse.urlsplit(url).path
        raise RegistryError(
            f"registry {self.registry.host} answered {error.code} to {method} {path}"
        ) from None

    def _token(self, challenge: str) -> str:
        """A bearer token for the challenge's scope (the Docker token auth flow), reused per scope."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        key = params.get("scope", "")
        if key not in self._tokens:
            request = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(params)}")
            if self.registry.user:
                request.add_header("Authorization", "Basic " + self._basic())
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    body = json.load(response)
            except (urllib.error.URLError, OSError, ValueError) as error:
                raise RegistryError(f"the token service of {self.registry.host} failed: {error}") from None
            self._tokens[key] = body.get("token") or body.get("access_token") or ""
        return self._tokens[key]

    def _basic(self) -> str:
        credential = f"{self.registry.user}:{self.registry.password or ''}"
        return base64.b64encode(credential.encode()).decode()
