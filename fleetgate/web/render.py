"""Pages from templates: every value escaped unless a template says otherwise (none does), and headers
that keep a page from running anything it did not ship with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse

from fleetgate.models import utcnow

from . import display

# A second line behind escaping: only our own script and style run, nothing inline, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # A login link's secret is in its path: never pass it to another site. (Not no-referrer: Chromium then
    # sends `Origin: null` with forms, and the sign-in form checks the origin.)
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",  # pages show secrets' names and who did what: keep them out of caches
}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("fleetgate.web", "templates"),
        autoescape=True,  # every template is HTML: escape everything, including .txt-named ones
        undefined=StrictUndefined,  # a misspelt value fails the test, not the user's page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=display.duration, size=display.size)
    env.globals.update(progress=display.progress, online=display.online)
    return env


ENVIRONMENT = _environment()


def relative_now(moment: datetime | None, now: datetime) -> str:
    """`moment` relative to `now`, or an empty string for none."""
    return "" if moment is None else display.relative(moment, now)


def page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    """The rendered page with the security headers."""
    now = utcnow()
    html = ENVIRONMENT.get_template(template).render(
        now=now, relative=lambda moment: relative_now(moment, now), **values
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
