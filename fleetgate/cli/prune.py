"""`fleetgate prune [--dry-run]`: images beyond FLEETGATE_RELEASES_KEPT, everywhere (issue 19)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from fleetgate.operations import prune as prune_ops

from .confirmation import counted
from .context import app_of
from .output import Failure, echo, json_option, to_json

if TYPE_CHECKING:
    from fleetgate.deploy.prune import PruneReport


def render(report: PruneReport) -> None:
    """Each removal, what each fleet keeps, and a count; problems on stderr."""
    for removal in report.removals:
        echo(removal.describe(report.dry_run))
    for slug, kept in report.kept:
        echo(f"{slug} keeps {', '.join(kept) or 'no release'}")
    done = [r for r in report.removals if not r.refused]
    if not done:
        echo(f"nothing to remove (FLEETGATE_RELEASES_KEPT={report.keep})")
    elif report.dry_run:
        echo(f"would remove {counted(len(done), 'item')}; run `fleetgate prune` to remove them")
    else:
        echo(f"removed {counted(len(done), 'item')} (FLEETGATE_RELEASES_KEPT={report.keep})")
    for problem in report.problems:
        echo(f"warning: {problem}", err=True)


@click.command("prune")
@click.option("--dry-run", is_flag=True, help="Only print what would be removed.")
@json_option
@click.pass_context
def prune(ctx: click.Context, dry_run: bool, as_json: bool) -> None:
    """Remove the images of releases beyond FLEETGATE_RELEASES_KEPT: on servers, in the registry, on builders.

    Always kept: the fleet's target (its pin), the release a rollback goes back to, what devices and
    servers run or are pinned to, and releases still building; failed releases' images go first.
    Exits 1 when a place could not be pruned (an unreachable server, a registry that refuses).
    """
    app = app_of(ctx)
    from fleetgate.deploy.prune import PruneOff  # imported here: pruning brings the SSH stack

    try:
        report = prune_ops.prune(app.context, app.actor, dry_run)
    except PruneOff as error:
        raise Failure(str(error)) from None
    if as_json:
        echo(to_json(report))
    else:
        render(report)
    if report.problems:
        raise Failure(f"{counted(len(report.problems), 'place')} could not be pruned; see the warnings above")
