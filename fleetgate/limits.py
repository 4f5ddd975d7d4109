"""Caps and timeouts a gateway enforces; a noun of the shared domain so packages need not read settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Caps on what one push may send (DESIGN.md §2.2); each is configurable."""

    pack_bytes: int = 2 * 1024**3
    object_bytes: int = 100 * 1024**2
    object_count: int = 10_000_000
    tree_depth: int = 4096
    path_bytes: int = 4096
    lock_wait_seconds: float = 600.0
    login_timeout: float = 30.0
    auth_attempts: int = 6
    sessions_per_connection: int = 4
    unauthenticated_connections: int = 64
    keepalive_interval: float = 15.0
    workers: int = 8
    unpack_workers: int = 2  # processes that unpack big packs; 0 unpacks every pack in its push's thread
    # Seconds of silence after which a long step (a big pack, a build, an upload, a rollout) says where it
    # stands: under the 5 s a pusher should ever wait for a line.
    progress_interval: float = 4.0
