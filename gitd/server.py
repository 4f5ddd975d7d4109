"""The SSH edge: asyncssh, public keys only, one strict command grammar (DESIGN.md §2.1).

Async stops here: every push or fetch runs in a bounded worker pool, talking to the channel through
a `ChannelBridge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import typing
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dulwich.protocol import Protocol, pkt_line

from fleetgate.asyncssh_import import asyncssh
from fleetgate.limits import Limits

from . import algorithms
from .access import Access
from .bridge import ChannelBridge, ChannelClosed, TextIn, TextOut
from .commands import NOT_FOUND_MESSAGE, VERBS, CommandRefused, parse_command, refusal_message
from .pipeline import Pipeline, Pusher
from .queue import FleetQueue, Superseded, WaitTimeout
from .receive import ProtocolViolation, ReceiveContext, ReceiveSession
from .repos import repository_path
from .unpack import worker_pool
from .upload import serve_upload_pack
from .user_commands import HELP_FLAGS, UserCommand, help_text, is_user_command, parse_user_command
from .user_commands import VERBS as USER_VERBS

# The user commands that run a `fleetgate` command (help and whoami are answered here).
RUN_VERBS = frozenset(verb for verb, spec in USER_VERBS.items() if spec.command)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayConfig:
    """What the SSH edge needs to run; built by the composition root from Settings."""

    host: str
    port: int
    host_key_path: Path
    repositories: Path
    limits: Limits
    node_id: str
    public_url: str | None = None  # FLEETGATE_PUBLIC_SSH_URL: where users reach this server, for hints


class CommandRunner(typing.Protocol):
    """Runs one user command as `user` (the composition root's: gitd knows only the grammar)."""

    def __call__(
        self,
        user: str,
        fingerprint: str,
        argv: list[str],
        streams: tuple[TextIn, TextOut, TextOut],
        stopped: Callable[[], bool],
        label: str,
    ) -> int: ...


class Gateway:
    """State shared by every connection: lookups, the push queue, the worker pool, counters."""

    def __init__(
        self, config: GatewayConfig, access: Access, pipeline: Pipeline, commands: CommandRunner | None = None
    ) -> None:
        self.config = config
        self.access = access
        self.pipeline = pipeline
        self.commands = commands
        # User commands get a pool of their own: a followed log must never hold up a push.
        self.command_pool = ThreadPoolExecutor(config.limits.workers, thread_name_prefix="command")
        self.queue = FleetQueue(access.database, config.node_id, self.lookup)
        self.pool = ThreadPoolExecutor(config.limits.workers, thread_name_prefix="push")
        self.lookups = ThreadPoolExecutor(4, thread_name_prefix="lookup")
        self.unpackers = worker_pool(config.limits.unpack_workers) if config.limits.unpack_workers else None
        self.unauthenticated = 0

    async def lookup(self, fn, *args):
        """Run a blocking database lookup off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.lookups, fn, *args)


class GitSSHServer(asyncssh.SSHServer):
    """One SSH connection: authentication by the key that signed, then git sessions."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.conn: asyncssh.SSHServerConnection | None = None
        self.attempts = 0
        self.sessions = 0
        self.user: str | None = None
        self.fingerprint = ""
        self._candidate: tuple[str, str] | None = None
        self._counted = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.gateway.unauthenticated += 1
        self._counted = True
        if self.gateway.unauthenticated > self.gateway.config.limits.unauthenticated_connections:
            log.warning("refusing connection: too many unauthenticated connections")
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many connections; try again later")

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()

    def _uncount(self) -> None:
        if self._counted:
            self.gateway.unauthenticated -= 1
            self._counted = False

    def begin_auth(self, username: str) -> bool:
        # Must be True: False or None would let a client in without any credentials.
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Called for keys merely offered too; the identity is taken in auth_completed, from the last
        # key validated, which is the one whose signature asyncssh then checked.
        self.attempts += 1
        if self.attempts > self.gateway.config.limits.auth_attempts:
            assert self.conn is not None
            self.conn.disconnect(
                asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, "too many authentication attempts"
            )
            return False
        fingerprint = key.get_fingerprint("sha256")
        owner = await self.gateway.lookup(self.gateway.access.key_owner, fingerprint)
        if owner is None or username not in ("git", owner):
            self._candidate = None
            return False
        self._candidate = (owner, fingerprint)
        return True

    def auth_completed(self) -> None:
        assert self._candidate is not None
        self.user, self.fingerprint = self._candidate
        self._uncount()
        log.info("user %s authenticated with key %s", self.user, self.fingerprint)

    def session_requested(self):
        if self.sessions >= self.gateway.config.limits.sessions_per_connection:
            return False
        self.sessions += 1
        return asyncssh.SSHServerProcess(self._run, None, 0, False)

    async def _run(self, process: asyncssh.SSHServerProcess) -> None:
        assert self.user is not None
        try:
            status = await self._serve(process)
        except Exception:
            log.exception("session of %s failed", self.user)
            status = 1
        if not process.is_closing():
            process.exit(status)

    async def _serve(self, process: asyncssh.SSHServerProcess) -> int:
        user = self.user
        assert user is not None
        line = process.command or ""
        if process.get_terminal_type() is not None:
            # The pty is granted in name only, so that this session can be refused: a refused pty request
            # is not enough, as OpenSSH with -tt sends its command before it learns of the refusal.
            said = (
                refusal_message(user) if not line else "fleetgate: no terminal here: run commands without -t"
            )
            process.stderr.write(said.encode() + b"\r\n")
            return 1
        if self.gateway.commands is not None and is_user_command(line, tuple(VERBS)):
            return await self._user_command(process, user, line)
        try:
            command = parse_command(line)
        except CommandRefused:
            hint = f" (or see: {self._ssh_hint()} help)" if self.gateway.commands is not None else ""
            process.stderr.write(refusal_message(user).encode() + hint.encode() + b"\n")
            return 1
        fleet = await self.gateway.lookup(self.gateway.access.fleet_for, user, command.owner, command.fleet)
        if fleet is None:
            process.stdout.write(pkt_line(b"ERR " + NOT_FOUND_MESSAGE.encode()))
            return 1
        repo = repository_path(self.gateway.config.repositories, fleet.id)
        if command.verb == "git-upload-pack":
            return await self._in_worker(process, lambda proto, _bridge, _c: serve_upload_pack(repo, proto))
        return await self._receive(process, user, fleet, repo)

    async def _receive(self, process: asyncssh.SSHServerProcess, user: str, fleet, repo: Path) -> int:
        limits = self.gateway.config.limits
        access = self.gateway.access
        fingerprint = self.fingerprint
        ctx = ReceiveContext(
            fleet=fleet,
            pusher=Pusher(user, fingerprint),
            repo_path=repo,
            limits=limits,
            pipeline=self.gateway.pipeline,
            still_allowed=lambda: access.still_allowed(user, fingerprint, fleet.id),
            unpack_pool=self.gateway.unpackers,
        )

        def notify(position: int) -> None:
            waiting = f"another push to {fleet.slug} is running; waiting (position {position})"
            process.stderr.write(f"fleetgate: {waiting}\n".encode())

        try:
            async with self.gateway.queue.hold(fleet.id, notify, limits.lock_wait_seconds):
                return await self._in_worker(
                    process,
                    lambda proto, bridge, cancelled: ReceiveSession(
                        ctx, proto, bridge.write_stderr, cancelled
                    ).run(),
                )
        except Superseded:
            process.stdout.write(pkt_line(f"ERR superseded by a newer push to {fleet.slug}".encode()))
        except WaitTimeout:
            process.stdout.write(
                pkt_line(
                    f"ERR gave up after waiting {limits.lock_wait_seconds:.0f} s for another push to "
                    f"{fleet.slug}; push again later".encode()
                )
            )
        return 1

    def _ssh_hint(self) -> str:
        config = self.gateway.config
        if config.public_url:  # what users reach (a NAT, a DNS name), not what this process listens on
            url = urllib.parse.urlsplit(config.public_url)
            return f"ssh -p {url.port or 22} {url.username or 'git'}@{url.hostname}"
        return f"ssh -p {config.port} git@{config.host}"

    async def _user_command(self, process: asyncssh.SSHServerProcess, user: str, line: str) -> int:
        try:
            command = parse_user_command(line)
        except CommandRefused as refused:
            log.info("user %s (key %s): command refused: %s", user, self.fingerprint, refused)
            process.stderr.write(f"fleetgate: {refused}\n".encode())
            return 1
        log.info("user %s (key %s) runs: %s", user, self.fingerprint, command.logged())
        if command.verb == "help" and command.args[:1] and command.args[0] in RUN_VERBS:
            command = UserCommand(command.args[0], ("--help",))  # `help releases` = `releases --help`
        if command.verb in ("help", "whoami") and (
            command.verb == "help" or set(command.args) & set(HELP_FLAGS)
        ):
            process.stdout.write(help_text(self._ssh_hint()).encode())
            return 0
        if command.verb == "whoami":
            process.stdout.write(f"{user}\nkey {self.fingerprint}\n".encode())
            return 0
        return await self._run_command(process, user, command)

    async def _run_command(self, process: asyncssh.SSHServerProcess, user: str, command: UserCommand) -> int:
        loop = asyncio.get_running_loop()
        bridge = ChannelBridge(loop, process)
        closed = threading.Event()
        watch = asyncio.ensure_future(process.channel.wait_closed())
        watch.add_done_callback(lambda _f: closed.set())
        streams = (TextIn(bridge), TextOut(bridge.write), TextOut(bridge.write_stderr))
        runner = self.gateway.commands
        assert runner is not None
        fingerprint = self.fingerprint

        def run() -> int:
            try:
                return runner(user, fingerprint, command.argv(user), streams, closed.is_set, command.label)
            except ChannelClosed:
                return 1

        try:
            return await loop.run_in_executor(self.gateway.command_pool, run)
        finally:
            watch.cancel()

    async def _in_worker(self, process: asyncssh.SSHServerProcess, work) -> int:
        loop = asyncio.get_running_loop()
        bridge = ChannelBridge(loop, process)
        proto = Protocol(bridge.read, bridge.write)
        proto.recv = bridge.recv  # type: ignore[attr-defined]
        cancelled = threading.Event()
        watch = asyncio.ensure_future(process.channel.wait_closed())
        watch.add_done_callback(lambda _f: cancelled.set())

        def run() -> int:
            try:
                work(proto, bridge, cancelled)
                return 0
            except ChannelClosed:
                log.info("client went away")
                return 1
            except ProtocolViolation as e:
                _try(bridge.write_stderr, f"fleetgate: {e}\n".encode())
                return 1

        try:
            return await loop.run_in_executor(self.gateway.pool, run)
        finally:
            watch.cancel()


def _try(fn, *args) -> None:
    with contextlib.suppress(ChannelClosed):
        fn(*args)


def load_host_key(path: Path) -> asyncssh.SSHKey:
    """The persistent ed25519 host key, generated on first start."""
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
    return asyncssh.read_private_key(str(path))


async def start(gateway: Gateway) -> asyncssh.SSHAcceptor:
    """Listen for SSH connections; returns the acceptor (its sockets tell the bound port)."""
    config = gateway.config
    return await asyncssh.create_server(
        lambda: GitSSHServer(gateway),
        config.host,
        config.port,
        server_host_keys=[load_host_key(config.host_key_path)],
        kex_algs=algorithms.KEX,
        encryption_algs=algorithms.ENCRYPTION,
        mac_algs=algorithms.MAC,
        signature_algs=algorithms.SIGNATURES,
        encoding=None,
        allow_pty=True,  # granted only to refuse the session with one line (GitSSHServer._serve)
        line_editor=False,
        agent_forwarding=False,
        x11_forwarding=False,
        gss_host=None,
        login_timeout=config.limits.login_timeout,
        keepalive_interval=config.limits.keepalive_interval,
        keepalive_count_max=4,
    )


def recover(repositories: Path) -> int:
    """After a crash: drop stale quarantines, half-written packs and ref lock files; returns the count."""
    from .quarantine import remove_stale

    removed = 0
    for repo in repositories.glob("*.git"):
        removed += remove_stale(repo / "objects")
        for lock in (repo / "refs").rglob("*.lock"):
            lock.unlink(missing_ok=True)
            removed += 1
    return removed


async def serve_forever(gateway: Gateway, ready=None) -> None:
    """Run the SSH edge until cancelled (SIGTERM/SIGINT are the caller's to turn into a cancel)."""
    removed = recover(gateway.config.repositories)
    if removed:
        log.info("removed %d leftovers of interrupted pushes", removed)
    acceptor = await start(gateway)
    port = acceptor.sockets[0].getsockname()[1]
    log.info("fleetgate SSH listening on %s:%d", gateway.config.host, port)
    if ready is not None:
        ready(port)
    try:
        await acceptor.wait_closed()
    finally:
        acceptor.close()
        gateway.pool.shutdown(wait=False, cancel_futures=True)
        gateway.command_pool.shutdown(wait=False, cancel_futures=True)
        if gateway.unpackers is not None:
            gateway.unpackers.shutdown(wait=False, cancel_futures=True)
