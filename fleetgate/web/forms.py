"""Posted forms: an `application/x-www-form-urlencoded` body, read with a cap before anything else runs."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM = 16 * 1024  # bytes: a variable's value (up to ~4 kB, as over SSH) and a few fields


class FormRefused(ValueError):
    """The body is not a form of ours: too large, another encoding, or broken."""


async def read_form(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
    """The posted fields (the first value of each name), read up to `limit` bytes."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormRefused("send the page's form as it is (application/x-www-form-urlencoded)")
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > limit:
        raise FormRefused(f"the form is over {limit // 1024} KiB; send a smaller value")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormRefused(f"the form is over {limit // 1024} KiB; send a smaller value")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused("the form is not valid UTF-8 text; send it from the page") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields
