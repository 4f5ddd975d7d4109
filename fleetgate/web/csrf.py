"""CSRF protection: every form of a session carries a token only that session's pages can know.

The token is derived from the session's secret (HMAC), so nothing more is stored: another site can make a
browser post a form with the session's cookie (SameSite=Lax stops most of that, not all: a sibling
subdomain, an old browser), but it cannot read the cookie, so it cannot compute the token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

FIELD = "csrf"  # the hidden input of every form
_PURPOSE = b"fleetgate web form"


def token_for(session_secret: str) -> str:
    """The CSRF token of the session whose cookie holds `session_secret`."""
    return hmac.new(session_secret.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def valid_form(expected: str, fields: Mapping[str, str]) -> bool:
    """Whether a posted form carries the session's token `expected` (compared in constant time)."""
    return hmac.compare_digest(expected.encode(), fields.get(FIELD, "").encode())
