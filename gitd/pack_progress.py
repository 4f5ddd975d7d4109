"""What the pusher sees while a big pack arrives: bytes received so far, then that it is being checked.

git's own receive-pack is silent on the server's side until index-pack reports; a pack of hundreds of
megabytes then looks like a hang. The receive counts the bytes it reads and a ticker says this line.
"""

from __future__ import annotations

from collections.abc import Callable

from fleetgate.units import duration, human_size


class PackProgress:
    """Counts the bytes of one pack as they are read; the line says how far the receive is."""

    def __init__(self, read_some: Callable[[int], bytes], clock: Callable[[], float]) -> None:
        self._read_some = read_some
        self._clock = clock
        self._started = clock()
        self.received = 0

    def read_some(self, size: int) -> bytes:
        """Read as the wrapped function does, counting what came."""
        data = self._read_some(size)
        self.received += len(data)
        return data

    def line(self) -> str:
        """The progress line now."""
        return pack_line(self.received, self._clock() - self._started)

    def done_line(self) -> str:
        """The line that ends a long receive."""
        seconds = self._clock() - self._started
        return f"Pack received and checked: {human_size(self.received)} in {duration(seconds)}"


def pack_line(received: int, seconds: float) -> str:
    """`Pack: 12.30 MB received so far (8s)` (pure).

    The bytes alone cannot tell a stalled network from a pack being checked: the line claims neither.
    """
    if not received:  # the client is still counting and compressing its objects
        return f"Waiting for the pack ({duration(seconds)})"
    return f"Pack: {human_size(received)} received so far ({duration(seconds)})"
