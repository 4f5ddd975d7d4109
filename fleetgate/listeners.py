"""Listening sockets, bound before anything is served: an address in use is one line, not a traceback.

The socket is bound but not listening: the server that serves it calls listen() once it is ready, so
nobody connects (and no readiness check succeeds) before the gateway can answer.
"""

from __future__ import annotations

import os
import socket

from .setting_sources import SettingsError


class ListenError(SettingsError):
    """A listen address the gateway cannot bind; the message names the setting to change."""


def bind(host: str, port: int, what: str, setting: str) -> socket.socket:
    """A TCP socket bound to host:port (port 0: a free one), or a ListenError naming `setting`."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ListenError(
            f"cannot listen for {what} on {host}:{port} ({reason}); set {setting} to a free HOST:PORT"
        ) from None
    return sock
