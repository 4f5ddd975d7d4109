"""A release's build lease, renewed while the push works on it (DESIGN.md §2.2: no other node marks a
release `interrupted` while a live node still builds or rolls it out)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from fleetgate import release_leases, releases
from fleetgate.db import Database

log = logging.getLogger(__name__)


@contextmanager
def leased(database: Database, release: releases.Release) -> Iterator[None]:
    """Renew the release's lease in a thread of its own until the block ends."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(releases.LEASE_TTL / 3):
            try:
                with database.session() as session:
                    release_leases.heartbeat(session, release)
            except Exception:  # a missed beat is retried; the lease outlives two of them
                log.warning("could not renew the lease of release %s", release.hash, exc_info=True)

    beat = threading.Thread(target=renew, name=f"lease-{release.hash[:7]}", daemon=True)
    beat.start()
    try:
        yield
    finally:
        done.set()
        beat.join()
