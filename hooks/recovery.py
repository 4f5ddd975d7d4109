"""After a crash: finish what the push pipeline left half-done (DESIGN.md §2.2, §2.3)."""

from __future__ import annotations

import logging
from pathlib import Path

from fleetgate.deploy import targets
from fleetgate.gitd.refs import RefStore
from fleetgate.gitd.repos import repository_path

from fleetgate import release_leases, releases
from fleetgate.db import Database

log = logging.getLogger(__name__)
MASTER = b"refs/heads/master"


def reconcile(database: Database, repositories: Path, node_id: str) -> tuple[int, int]:
    """Releases this node left running: `success` if master moved to their commit, else `interrupted`.

    The ref moves before the release is marked, so a crash between the two leaves a pushed commit
    whose release is still `running`; the push itself had succeeded. Returns (succeeded, interrupted).
    """
    succeeded = 0
    with database.session() as session:
        running = [r for r in releases.list_running(session) if r.node_id == node_id]
        for release in running:
            master = RefStore(repository_path(repositories, release.fleet_id)).read(MASTER).decode()
            if master == release.commit and release.composition:
                targets.on_release_success(session, releases.finish_release(session, release.id, "success"))
                succeeded += 1
        interrupted = release_leases.mark_interrupted(session, node_id=node_id)
    for release in interrupted:
        log.info("release %s was interrupted by a restart", release.name)
    return succeeded, len(interrupted)
