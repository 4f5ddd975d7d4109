"""The SSH edge: asyncssh, public keys only, one strict command grammar (DESIGN.md §2.1).

Async stops here: every push or fetch runs in a bounded worker pool, talking to the channel through
a `ChannelBridge`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import urllib.parse
from pathlib import Path

from dulwich.protocol import pkt_line

from fleetgate.asyncssh_import import asyncssh

from . import algorithms, audit
from .bridge import ChannelBridge, ChannelClosed, TextIn, TextOut
from .commands import NOT_FOUND_MESSAGE, VERBS, CommandRefused, parse_command, refusal_message
from .gateway import CLOSING, Gateway
from .pipeline import Pusher
from .push import receive_push
from .repos import repository_path
from .sessions import Running
from .upload import serve_upload_pack
from .user_commands import HELP_FLAGS, UserCommand, help_text, is_user_command, parse_user_command
from .user_commands import VERBS as USER_VERBS
from .worker import in_worker

# The user commands that run a `fleetgate` command (help and whoami are answered here).
RUN_VERBS = frozenset(verb for verb, spec in USER_VERBS.items() if spec.command)

log = logging.getLogger(__name__)


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
        self._peer: tuple[str, int] = ("?", 0)
        self._login: str | None = None  # the SSH user name the client asked for, once it did
        self._offered: str | None = None  # the fingerprint of the last key it offered
        self._keys_tried = 0

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername") or ("?", 0)
        self._peer = (str(peer[0]), int(peer[1]))
        self.gateway.unauthenticated += 1
        self._counted = True
        if self.gateway.unauthenticated > self.gateway.config.limits.unauthenticated_connections:
            log.warning("refusing connection: too many unauthenticated connections")
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, "too many connections; try again later")

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        if self.user is None and self._login is not None:
            audit.log_failed_login(self._login, *self._peer, self._offered, self._keys_tried)

    def _uncount(self) -> None:
        if self._counted:
            self.gateway.unauthenticated -= 1
            self._counted = False

    def begin_auth(self, username: str) -> bool:
        self._login = username
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
        self._offered, self._keys_tried = fingerprint, self._keys_tried + 1
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
        if self.gateway.sessions.closing:
            process.stderr.write(f"fleetgate: {CLOSING}\n".encode())
            process.exit(1)
            return
        with self.gateway.sessions.track(Running(process)) as running:
            # The channel closing (the client went away) stops the session's work, as a shutdown does.
            watch = asyncio.ensure_future(process.channel.wait_closed())
            watch.add_done_callback(lambda _f: running.cancelled.set())
            try:
                status = await self._serve(process, running)
            except Exception:
                log.exception("session of %s failed", self.user)
                status = 1
            finally:
                watch.cancel()
        if not process.is_closing():
            process.exit(status)

    async def _serve(self, process: asyncssh.SSHServerProcess, running: Running) -> int:
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
            running.kind = "command"
            return await self._user_command(process, user, line, running)
        try:
            command = parse_command(line)
        except CommandRefused:
            audit.log_session("command", user, self.fingerprint, "(refused)", "refused", 0.0)
            hint = f" (or see: {self._ssh_hint()} help)" if self.gateway.commands is not None else ""
            process.stderr.write(refusal_message(user).encode() + hint.encode() + b"\n")
            return 1
        fleet = await self.gateway.lookup(self.gateway.access.fleet_for, user, command.owner, command.fleet)
        if fleet is None:
            audit.log_session("command", user, self.fingerprint, line, "refused: not found", 0.0)
            process.stdout.write(pkt_line(b"ERR " + NOT_FOUND_MESSAGE.encode()))
            return 1
        repo = repository_path(self.gateway.config.repositories, fleet.id)
        if command.verb == "git-upload-pack":
            running.kind = "fetch"
            started = time.monotonic()
            status, _ = await in_worker(
                self.gateway.pool, process, running, lambda proto, _bridge, _c: serve_upload_pack(repo, proto)
            )
            audit.log_session("fetch", user, self.fingerprint, fleet.slug, status, time.monotonic() - started)
            return status
        running.kind, running.fleet_id = "push", fleet.id
        return await receive_push(self.gateway, process, Pusher(user, self.fingerprint), fleet, repo, running)

    def _ssh_hint(self) -> str:
        config = self.gateway.config
        if config.public_url:  # what users reach (a NAT, a DNS name), not what this process listens on
            url = urllib.parse.urlsplit(config.public_url)
            return f"ssh -p {url.port or 22} {url.username or 'git'}@{url.hostname}"
        return f"ssh -p {config.port} git@{config.host}"

    async def _user_command(
        self, process: asyncssh.SSHServerProcess, user: str, line: str, running: Running
    ) -> int:
        try:
            command = parse_user_command(line)
        except CommandRefused as refused:
            audit.log_session("command", user, self.fingerprint, "(refused)", f"refused: {refused}", 0.0)
            process.stderr.write(f"fleetgate: {refused}\n".encode())
            return 1
        started = time.monotonic()
        status = await self._answer(process, user, command, running)
        seconds = time.monotonic() - started
        audit.log_session("command", user, self.fingerprint, command.logged(), status, seconds)
        return status

    async def _answer(
        self, process: asyncssh.SSHServerProcess, user: str, command: UserCommand, running: Running
    ) -> int:
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
        return await self._run_command(process, user, command, running)

    async def _run_command(
        self, process: asyncssh.SSHServerProcess, user: str, command: UserCommand, running: Running
    ) -> int:
        loop = asyncio.get_running_loop()
        bridge = ChannelBridge(loop, process)
        streams = (TextIn(bridge), TextOut(bridge.write), TextOut(bridge.write_stderr))
        runner = self.gateway.commands
        assert runner is not None
        fingerprint = self.fingerprint
        stopped = running.cancelled.is_set

        def run() -> int:
            try:
                return runner(user, fingerprint, command.argv(user), streams, stopped, command.label)
            except ChannelClosed:
                return 1

        return await loop.run_in_executor(self.gateway.command_pool, run)


def load_host_key(path: Path) -> asyncssh.SSHKey:
    """The persistent ed25519 host key, generated on first start."""
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
    return asyncssh.read_private_key(str(path))


async def start(gateway: Gateway, sock: socket.socket) -> asyncssh.SSHAcceptor:
    """Listen for SSH connections on `sock` (bound by the caller: a taken port is its one-line error)."""
    removed = recover(gateway.config.repositories)
    if removed:
        log.info("removed %d leftovers of interrupted pushes", removed)
    config = gateway.config
    acceptor = await asyncssh.create_server(
        lambda: GitSSHServer(gateway),
        sock=sock,
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
    log.info("fleetgate SSH listening on %s:%d", config.host, sock.getsockname()[1])
    return acceptor


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
