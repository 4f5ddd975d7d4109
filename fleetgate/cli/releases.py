"""`fleetgate release list|show`: the releases of a fleet, with their images and build logs (DESIGN.md §3)."""

from __future__ import annotations

from datetime import timedelta

import click

from fleetgate import releases
from fleetgate.operations import releases as release_ops
from fleetgate.operations import views
from fleetgate.release_images import ReleaseImage
from fleetgate.releases import Release

from .context import app_of
from .output import echo, format_time, print_table, to_json


def _duration(span: timedelta | float | None) -> str:
    if span is None:
        return "-"
    seconds = round(span.total_seconds() if isinstance(span, timedelta) else span)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1000:
        return f"{size} B"
    value, unit = size / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):  # decimal units, as docker prints image sizes
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/")


@click.group()
def release() -> None:
    """List the releases of a fleet and show one with its images and build logs."""


@release.command("list")
@click.argument("slug", metavar="OWNER/NAME")
@click.option("--status", type=click.Choice(releases.STATUSES), help="Only releases with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def release_list(ctx: click.Context, slug: str, status: str | None, as_json: bool) -> None:
    """List a fleet's releases, newest first."""
    app = app_of(ctx)
    found = release_ops.list_releases(app.context, app.actor, slug, status)
    if as_json:
        echo(to_json([views.release(r) for r in found]))
        return
    header = ("ID", "HASH", "STATUS", "COMMIT", "BRANCH", "CREATED", "BY", "DURATION")
    rows = (
        (r.number, r.short_hash, r.status, r.commit[:7], _branch(r.branch), format_time(r.created_at))
        + (r.created_by_user, _duration(r.duration))
        for r in found
    )
    print_table(header, rows)


def _show_facts(release: Release) -> None:
    lines = [
        ("release", release.name),
        ("id", release.number),
        ("hash", release.hash),
        ("status", release.status),
        ("commit", release.commit),
        ("branch", release.branch),
        ("options", ", ".join(release.options) or "-"),
        ("note", release.note or "-"),
        ("created by", f"{release.created_by_user} ({release.created_by_key})"),
        ("created", format_time(release.created_at)),
        ("finished", "-" if release.finished_at is None else format_time(release.finished_at)),
        ("duration", _duration(release.duration)),
        ("builder", release.builder),
        ("platform", release.platform),
        ("node", release.node_id),
        ("error", release.error or "-"),
    ]
    for label, value in lines:
        echo(f"{label + ':':<12}{value}")


def _show_images(images: list[ReleaseImage]) -> None:
    echo("")
    if not images:
        echo("no images recorded")
        return
    rows = ((i.service, i.image, _size(i.size), _duration(i.build_seconds)) for i in images)
    print_table(("SERVICE", "IMAGE", "SIZE", "BUILD TIME"), rows)


def _show_texts(release: Release, images: list[ReleaseImage]) -> None:
    if release.composition:
        echo("\ncomposition:")
        echo(release.composition.rstrip("\n"))
    for image in images:
        echo(f"\nbuild log of {image.service} ({image.status}):")
        echo(image.build_log.rstrip("\n") or "(empty)")


@release.command("show")
@click.argument("spec", metavar="RELEASE")
@click.option("--logs/--no-logs", default=True, help="With the composition and build logs (the default).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def release_show(ctx: click.Context, spec: str, logs: bool, as_json: bool) -> None:
    """Show a release (OWNER/NAME#N, its hash or a unique hash prefix) with its images and build logs."""
    app = app_of(ctx)
    details = release_ops.show_release(app.context, app.actor, spec)
    images = list(details.images)
    if as_json:
        shown = views.release_details(details)
        if not logs:
            for image in shown["images"]:
                del image["build_log"]
        echo(to_json(shown))
        return
    _show_facts(details.release)
    _show_images(images)
    if logs:
        _show_texts(details.release, images)


@release.command("logs")
@click.argument("spec", metavar="RELEASE")
@click.option("--service", metavar="S", help="Only this service's lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the release builds.")
@click.pass_context
def release_logs(ctx: click.Context, spec: str, service: str | None, follow: bool) -> None:
    """Print a release's build log; with -f, follow a build that is still running until it ends."""
    from fleetgate.hooks.output import sanitise

    app = app_of(ctx)
    for line in release_ops.build_log(app.context, app.actor, spec, service, follow, app.stopped):
        echo(sanitise(line))
