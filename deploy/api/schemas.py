"""The API's request and response bodies, checked by pydantic (they make the OpenAPI document too)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

HASH = r"^[0-9a-f]{32}$"
ServiceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
DeviceStatus = Literal["idle", "downloading", "installing", "update locked", "error"]
MAX_SERVICES = 64


class Registration(BaseModel):
    """A device asking to join the fleet of the provisioning key it presents."""

    model_config = ConfigDict(extra="forbid")
    uuid: str = Field(min_length=1, max_length=62, description="32 hexadecimal digits, made by the device")
    device_type: str = Field(min_length=1, max_length=64, description="a slug of `fleetgate device-types`")
    name: str | None = Field(None, max_length=255, description="default: the uuid's first 7 digits")


class Registered(BaseModel):
    """The registered device and its API key: keep the key, it is never shown again."""

    uuid: str
    name: str
    fleet: str
    device_type: str
    api_key: str


class ServiceReport(BaseModel):
    """One service as the device sees it."""

    model_config = ConfigDict(extra="forbid")
    status: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9 _-]{0,31}$", examples=["running", "handing over"])
    release: str | None = Field(None, pattern=HASH)
    progress: int | None = Field(None, ge=0, le=100)


class StateReport(BaseModel):
    """What the device runs and does; fields left out keep their last reported value."""

    model_config = ConfigDict(extra="forbid")
    status: DeviceStatus | None = None
    release: str | None = Field(None, pattern=HASH, description="the release hash the device runs")
    progress: int | None = Field(None, ge=0, le=100)
    message: str | None = Field(None, max_length=2000)
    services: dict[ServiceName, ServiceReport] | None = Field(None, max_length=MAX_SERVICES)


class Problem(BaseModel):
    """Every refusal: one line that says what to do."""

    detail: str
