"""Why a build failed, sorted by whose fault it is (DESIGN.md §4): the pure part of a failed release."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgate.build.docker_build import BuilderUnavailable, BuildFailed
from fleetgate.build.publish import PublishFailed
from fleetgate.build.release import ServiceFailed


@dataclass(frozen=True)
class Failure:
    """A failed build: the release's status, the service at fault (if one is), the reason and whose fault."""

    status: str  # "failed" or "cancelled"
    service: str | None
    detail: str  # what went wrong, without "build failed" (the caller says that)
    user_fault: bool  # the pusher's (a bad project): shown as it is; else fleetgate's, with a reference


def classify(error: Exception) -> Failure:
    """What a failed build means for the pusher and the operator."""
    service = getattr(error, "service", None)
    if isinstance(error, ServiceFailed) and error.cancelled:
        return Failure("cancelled", service, "the client disconnected", True)
    if isinstance(error, BuildFailed | ValueError):  # the build, or a bad project: resolve, render, compose…
        return Failure("failed", service, str(error), True)
    if isinstance(error, BuilderUnavailable | PublishFailed):
        return Failure("failed", service, str(error), False)
    return Failure("failed", service, "internal error in fleetgate", False)
