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


class TextOut:
    """A text stream onto the channel's stdout or stderr, for user commands (click writes to it)."""

    encoding = "utf-8"

    def __init__(self, write) -> None:
        self._write = write

    def write(self, text: str) -> int:
        """Send the text at once: a followed log must reach the user line by line."""
        self._write(text.encode("utf-8", "replace"))
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def isatty(self) -> bool:
        """Never a terminal: no pty is ever allocated, so no colour and no prompts."""
        return False


class TextIn:
    """The channel's stdin as text, for a user command that reads input (`keys add < key.pub`)."""

    def __init__(self, bridge: ChannelBridge) -> None:
        self._bridge = bridge

    def read(self, size: int = -1) -> str:
        """Up to `size` bytes (all, for -1) until the client closes its side, decoded as UTF-8."""
        parts, got = [], 0
        while size < 0 or got < size:
            data = self._bridge.recv(CHUNK if size < 0 else size - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts).decode("utf-8", "replace")
