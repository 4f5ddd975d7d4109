"""asyncssh, imported in this one place so that its known import-time warning is silenced once."""

from __future__ import annotations

import warnings

from cryptography.utils import CryptographyDeprecationWarning

# cryptography 51 deprecates DSA, and asyncssh 2.24.1 names its DSA classes when it is imported (and
# again when a client offers an ssh-dss key), so every `fleetgate` command printed ten
# CryptographyDeprecationWarning lines. Only this message, only from asyncssh's own modules: anything
# else still shows. Remove it once `python -W error -c 'import asyncssh'` passes with the asyncssh
# pinned in requirements.lock (asyncssh then no longer touches DSA at import).
warnings.filterwarnings(
    "ignore",
    message="DSA is deprecated",
    category=CryptographyDeprecationWarning,
    module=r"asyncssh(\.|$)",
)

import asyncssh  # noqa: E402  (after the filter, which is this module's reason to exist)

__all__ = ["asyncssh"]
