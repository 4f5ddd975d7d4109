"""Blocking reads and writes for a worker thread, over an asyncssh channel owned by the event loop.

dulwich is blocking, so a push runs in a thread; this bridge is its file-like view of the channel.
`process.redirect()` to OS pipes lost the end of large packs here (notes/receive-pack.md), so the
thread asks the loop for data instead. Reads are large (4 MiB) because asyncssh reopens the SSH
window when it delivers data, not when we consume it: small reads let a fast client queue tens of
MB in memory.
"""

from __future__ import annotations

import asyncio

CHUNK = 4 * 1024 * 1024


class ChannelClosed(ConnectionError):
    """The client went away."""


class ChannelBridge:
    """File-like blocking access to an SSH session's stdin/stdout/stderr from a worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, process) -> None:
        self._loop = loop
        self._process = process
        self._chunk = b""
        self._pos = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        future = asyncio.run_coroutine_threadsafe(self._process.stdin.read(CHUNK), self._loop)
        try:
            data = future.result()
        except Exception as e:  # the channel closed under us
            raise ChannelClosed(str(e)) from None
        if not data:
            self.eof = True
            return False
        self._chunk, self._pos = data, 0
        return True

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes, at least one; b'' at end of input."""
        if self._pos >= len(self._chunk) and not self._fill():
            return b""
        data = self._chunk[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def read(self, size: int) -> bytes:
        """Exactly `size` bytes, or fewer only at end of input."""
        first = self.recv(size)
        if len(first) == size or not first:
            return first
        parts = [first]
        got = len(first)
        while got < size:
            more = self.recv(size - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def write(self, data: bytes) -> None:
        """Write to the client's stdout and wait for the channel to take it (backpressure)."""
        self._send(self._process.stdout, data)

    def write_stderr(self, data: bytes) -> None:
        """Write raw bytes to the SSH channel's stderr (shown unprefixed by git)."""
        self._send(self._process.stderr, data)

    def _send(self, stream, data: bytes) -> None:
        future = asyncio.run_coroutine_threadsafe(self._write(stream, data), self._loop)
        try:
            future.result()
        except Exception as e:
            raise ChannelClosed(str(e)) from None

    @staticmethod
    async def _write(stream, data: bytes) -> None:
        stream.write(data)
        await stream.drain()
