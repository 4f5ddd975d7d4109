"""`GET /healthz`: unauthenticated, cheap, 200 or 503 with each dependency's check (DESIGN.md §3)."""

# No `from __future__ import annotations`: FastAPI reads the route's annotations at runtime.
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from .health import verdict
from .health_probes import Health


class CheckReport(BaseModel):
    """One dependency: database, disk (the repositories'), docker (every build daemon), registry."""

    model_config = ConfigDict(extra="allow")  # figures of the dependency: free_bytes, builders, …
    status: Literal["ok", "down", "off"] = Field(description="off: not configured")
    required: bool = Field(description="whether the gateway can serve pushes without it")
    detail: str = Field(description="what was seen, in one line")


class HealthReport(BaseModel):
    """The gateway's health: ok, or down with the required dependencies that are down."""

    status: Literal["ok", "down"]
    down: list[str]
    checks: dict[str, CheckReport]


def health_router(health: Health) -> APIRouter:
    """The `/healthz` route over `health`'s probes."""
    router = APIRouter()

    @router.get(
        "/healthz",
        response_model=HealthReport,
        summary="The gateway's health and each dependency's",
        responses={503: {"model": HealthReport, "description": "a dependency the gateway needs is down"}},
        tags=["service"],
    )
    async def healthz() -> Any:
        """200 while every dependency the gateway needs answers; 503 naming those that do not."""
        status, body = verdict(await health.checks())
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    return router
