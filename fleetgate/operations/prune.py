"""`fleetgate prune`: every fleet's images beyond FLEETGATE_RELEASES_KEPT, everywhere (issue 19).

The operator's alone: it reaches every fleet's servers, the registry and the build daemons at once.
The same runs daily in `fleetgate serve` (fleetgate/daily_prune.py), as the operator.
"""

from __future__ import annotations

import getpass
import threading
from typing import TYPE_CHECKING

from .actor import Actor
from .permissions import OPERATOR, STRANGER, check_operator
from .scope import Context

if TYPE_CHECKING:
    from fleetgate.deploy.prune import PruneConfig, PruneReport
    from fleetgate.settings import Settings


def prune_config(settings: Settings) -> PruneConfig:
    """What a prune reaches, from the operator's settings."""
    # Imported here: pruning brings the SSH stack and the Docker SDK, which most operations do without.
    from fleetgate.build.publish import Registry
    from fleetgate.deploy.prune import PruneConfig
    from fleetgate.deploy.servers.fleet_rollout import RolloutConfig

    registry = None
    if settings.registry:
        registry = Registry(settings.registry, settings.registry_user, settings.registry_password)
    builders = tuple((b.name, b.url) for b in settings.builders)
    return PruneConfig(settings.releases_kept, builders, registry, RolloutConfig.from_settings(settings))


def prune(
    ctx: Context, actor: Actor, dry_run: bool, who: str | None = None, stop: threading.Event | None = None
) -> PruneReport:
    """Remove what no fleet keeps (a dry run only says it): on servers, in the registry, on build daemons."""
    from fleetgate.deploy import prune as pruning

    check_operator("prune", OPERATOR if actor.is_operator else STRANGER)
    who = who or f"{getpass.getuser()} (fleetgate prune)"
    return pruning.prune(ctx.database, prune_config(ctx.settings), who, dry_run, stop)
