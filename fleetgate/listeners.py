"""Listening sockets, bound before anything is served: an address in use is one line, not a traceback."""

from __future__ import annotations

import os
import socket

from .setting_sources import SettingsError


class ListenError(SettingsError):
    """A listen address the gateway cannot bind; the message names the setting to change."""


def bind(host: str, port: int, what: str, setting: str) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one), or a ListenError naming `setting`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ListenError(
            f"cannot listen for {what} on {host}:{port} ({reason}); set {setting} to a free HOST:PORT"
        ) from None
