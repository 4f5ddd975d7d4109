"""The pusher's side of the channel: progress lines (side-band 2), keepalives, the report-status."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dulwich.errors import GitProtocolError
from dulwich.protocol import SIDE_BAND_CHANNEL_DATA, SIDE_BAND_CHANNEL_PROGRESS, Protocol

from .bridge import ChannelClosed

KEEPALIVE = b"0005\x01"  # an empty band-1 packet, what git's own receive.keepAlive sends


class SidebandWriter:
    """Serialises writes to the client: progress lines, keepalives and the final report."""

    def __init__(self, proto: Protocol, sideband: bool, stderr: Callable[[bytes], None]) -> None:
        self._proto = proto
        self._sideband = sideband
        self._stderr = stderr
        self._lock = threading.Lock()
        self.last_write = 0.0

    def line(self, text: str) -> None:
        """Show one line to the pusher as `remote: <text>`."""
        data = text.rstrip("\n").encode("utf-8", "replace") + b"\n"
        with self._lock, _closed_as_channel_closed():
            if self._sideband:
                self._proto.write_sideband(SIDE_BAND_CHANNEL_PROGRESS, data)
            else:
                self._stderr(data)
            self._touch()

    def keepalive(self) -> None:
        with self._lock, _closed_as_channel_closed():
            if self._sideband:
                self._proto.write(KEEPALIVE)
            self._touch()

    def report(self, lines: list[bytes]) -> None:
        """Send report-status: pkt-lines inside band 1 with their own flush, then the final flush."""
        payload = b"".join(_pkt(line) for line in lines) + b"0000"
        with self._lock, _closed_as_channel_closed():
            if self._sideband:
                self._proto.write_sideband(SIDE_BAND_CHANNEL_DATA, payload)
                self._proto.write_pkt_line(None)
            else:
                self._proto.write(payload)

    def _touch(self) -> None:
        self.last_write = time.monotonic()


@contextmanager
def _closed_as_channel_closed() -> Iterator[None]:
    # dulwich wraps a failed write in GitProtocolError; callers only need to know the client is gone.
    try:
        yield
    except GitProtocolError as e:
        raise ChannelClosed(str(e)) from None


def _pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line
