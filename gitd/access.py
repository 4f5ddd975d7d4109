"""Who is pushing and where they may push: the SSH edge's view of users, keys and fleets."""

from __future__ import annotations

from datetime import datetime

from fleetgate import fleets, keys, release_leases
from fleetgate.db import Database
from fleetgate.fleets import Fleet
from fleetgate.releases import Release


class Access:
    """Blocking lookups against the shared domain; the SSH edge runs them in a worker thread."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def key_owner(self, fingerprint: str) -> str | None:
        """The user who registered the key with this SHA256 fingerprint."""
        with self.database.session(readonly=True) as session:
            return keys.find_key_owner(session, fingerprint)

    def fleet_for(self, user: str, owner: str, name: str) -> Fleet | None:
        """The fleet if it exists and `user` may use it; None for both "no such fleet" and "not allowed"."""
        with self.database.session(readonly=True) as session:
            fleet = fleets.find_fleet(session, owner, name)
            if fleet is None or not fleets.may_push(session, user, fleet.id):
                return None
            return fleet

    def still_allowed(self, user: str, fingerprint: str, fleet_id: int) -> bool:
        """Checked again just before refs move: the key is still the user's and the user still a member."""
        with self.database.session(readonly=True) as session:
            return keys.find_key_owner(session, fingerprint) == user and fleets.may_push(
                session, user, fleet_id
            )

    def release_of_push(self, fleet_id: int, node_id: str, since: datetime) -> Release | None:
        """The release a push started: the newest this node started for the fleet since the push began."""
        with self.database.session(readonly=True) as session:
            found = release_leases.started_since(session, fleet_id, node_id, since)
            return found[0] if found else None

    def interrupt_releases(self, fleet_id: int, node_id: str, since: datetime, why: str) -> list[Release]:
        """End as `interrupted` the running releases a push started (the shutdown stops it)."""
        with self.database.session() as session:
            return release_leases.interrupt(session, fleet_id, node_id, since, why)
