"""sd_notify(3) in a few lines: tell systemd (`Type=notify`) that serve is ready, reloading or stopping.

The protocol is one datagram of `KEY=VALUE` lines to the unix socket in `$NOTIFY_SOCKET` (a leading `@`
names an abstract socket). Without that variable (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends state lines to systemd's notify socket, if there is one."""

    def __init__(self, path: str | None) -> None:
        self.address = None if not path else "\0" + path[1:] if path.startswith("@") else path

    def send(self, *lines: str) -> None:
        """Send `READY=1`, `STATUS=…` and the like in one datagram; a failure is logged, never raised."""
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError as error:
            log.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), error.strerror or error)
