"""Who asks: the operator at the gateway's shell, or a user authenticated by SSH key or access token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """The person behind a request; `user` None is the operator, who may do everything."""

    user: str | None
    credential: str = "shell"  # for the operator's log: `key SHA256:…`, `token 12`, or `shell`
    read_only: bool = False  # a read-only access token: listings and logs, no change

    @property
    def is_operator(self) -> bool:
        """True for the operator at the gateway's shell."""
        return self.user is None

    def __str__(self) -> str:
        return "operator" if self.user is None else f"{self.user} ({self.credential})"


OPERATOR = Actor(user=None)
