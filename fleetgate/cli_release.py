"""`fleetgate release list|show`: the releases of a fleet, with their images and build logs (DESIGN.md §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from . import fleets, release_images, releases
from .cli_output import format_time, print_table, to_json
from .release_images import ReleaseImage
from .releases import Release


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


def _facts(release: Release) -> dict[str, Any]:
    """Every field of a release, as `--json` prints it."""
    duration = release.duration
    return {
        "release": release.name,
        "id": release.number,
        "hash": release.hash,
        "short_hash": release.short_hash,
        "fleet": release.fleet,
        "status": release.status,
        "commit": release.commit,
        "branch": release.branch,
        "options": list(release.options),
        "note": release.note,
        "created_by": {"user": release.created_by_user, "key": release.created_by_key},
        "created": release.created_at,
        "finished": release.finished_at,
        "duration_seconds": None if duration is None else duration.total_seconds(),
        "builder": release.builder,
        "platform": release.platform,
        "node": release.node_id,
        "error": release.error,
        "composition": release.composition,
    }


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
    with ctx.find_root().obj.database.session(readonly=True) as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        found = releases.list_releases(session, fleet.id, status)
    if as_json:
        click.echo(to_json([_facts(r) for r in found]))
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
        click.echo(f"{label + ':':<12}{value}")


def _show_images(images: list[ReleaseImage]) -> None:
    click.echo("")
    if not images:
        click.echo("no images recorded")
        return
    rows = ((i.service, i.image, _size(i.size), _duration(i.build_seconds)) for i in images)
    print_table(("SERVICE", "IMAGE", "SIZE", "BUILD TIME"), rows)


def _show_texts(release: Release, images: list[ReleaseImage]) -> None:
    if release.composition:
        click.echo("\ncomposition:")
        click.echo(release.composition.rstrip("\n"))
    for image in images:
        click.echo(f"\nbuild log of {image.service} ({image.status}):")
        click.echo(image.build_log.rstrip("\n") or "(empty)")


@release.command("show")
@click.argument("spec", metavar="RELEASE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def release_show(ctx: click.Context, spec: str, as_json: bool) -> None:
    """Show a release (OWNER/NAME#N, its hash or a unique hash prefix) with its images and build logs."""
    with ctx.find_root().obj.database.session(readonly=True) as session:
        found = releases.find_release(session, spec)
        images = release_images.images_of(session, found.id)
    if as_json:
        click.echo(to_json({**_facts(found), "images": images}))
        return
    _show_facts(found)
    _show_images(images)
    _show_texts(found, images)
