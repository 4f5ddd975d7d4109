"""Client: the agent's side of the contract's HTTP API (register, target long-poll, report).

Synchronous httpx: the agent does one thing at a time, and a long-poll is just a slow GET. Errors are
sorted by whose fault: a refusal of the registration (bad provisioning key, wrong device type) is the
operator's to fix and ends the agent; anything else (network down, server errors) is retried.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

CONNECT_TIMEOUT = 5.0


class DeviceApiError(RuntimeError):
    """The API could not be reached or answered with an error; the agent retries with backoff."""


class RegistrationRefused(DeviceApiError):
    """The API refused to register this device; the message says what the operator must do."""


@dataclass(frozen=True)
class TargetAnswer:
    """A target document and its ETag, or `document` None when it did not change (304)."""

    document: Mapping[str, Any] | None
    etag: str | None


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail) if detail else response.text[:200] or response.reason_phrase


class DeviceApi:
    """One device's client of the device API at `url` (https with `ca_cert`, or http on loopback)."""

    def __init__(self, url: str, api_key: str | None = None, ca_cert: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_cert) if ca_cert else True
        self._client = httpx.Client(
            base_url=self.url, verify=verify, timeout=httpx.Timeout(30.0, connect=CONNECT_TIMEOUT)
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.api_key and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            return self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise DeviceApiError(f"cannot reach the device API at {self.url}: {error}") from None

    def register(
        self, provisioning_key: str, uuid: str, device_type: str, name: str | None
    ) -> dict[str, Any]:
        """Register with a provisioning key; the answer carries the device's own API key."""
        body: dict[str, Any] = {"uuid": uuid, "device_type": device_type}
        if name:
            body["name"] = name
        response = self._request(
            "POST", "/v1/devices", json=body, headers={"Authorization": f"Bearer {provisioning_key}"}
        )
        if response.status_code == 201:
            return response.json()
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise RegistrationRefused(
                f"the device API refused the registration ({response.status_code}): {_detail(response)}"
            )
        raise DeviceApiError(f"registration failed ({response.status_code}): {_detail(response)}")

    def target(self, etag: str | None, wait: float) -> TargetAnswer:
        """The target document; with `etag`, wait up to `wait` seconds for a change (None on 304)."""
        headers = {"If-None-Match": f'"{etag}"'} if etag else {}
        timeout = httpx.Timeout(wait + 30.0, connect=CONNECT_TIMEOUT)
        response = self._request(
            "GET", "/v1/device/state", params={"wait": math.ceil(wait)}, headers=headers, timeout=timeout
        )
        if response.status_code == 304:
            return TargetAnswer(None, etag)
        if response.status_code != 200:
            raise DeviceApiError(f"target state: {response.status_code} {_detail(response)}")
        tag = (response.headers.get("ETag") or "").removeprefix("W/").strip('"') or None
        return TargetAnswer(response.json(), tag)

    def report(self, body: Mapping[str, Any]) -> None:
        """Send the device's state (PATCH /v1/device/state)."""
        response = self._request("PATCH", "/v1/device/state", json=body)
        if response.status_code >= 300:
            raise DeviceApiError(f"state report: {response.status_code} {_detail(response)}")
