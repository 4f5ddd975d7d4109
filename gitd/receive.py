"""git-receive-pack, made safe: advertise, read commands, quarantine the pack, check, decide, move refs.

dulwich supplies the pkt-line protocol and pack storage; the order of the steps and every check are
ours (DESIGN.md §2.2). This runs in a worker thread with blocking reads and writes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.protocol import (
    Protocol,
    extract_capabilities,
    format_ref_line,
)
from dulwich.refs import check_ref_format

from fleetgate.fleets import Fleet
from fleetgate.limits import Limits
from fleetgate.ticker import Ticker

from .bridge import ChannelClosed
from .ingest import PackRejected
from .interruption import SHUTDOWN_REASON, Interruption
from .pack_progress import PackProgress
from .pipeline import (
    ZERO_SHA,
    Decision,
    Pipeline,
    Push,
    Pusher,
    RefResult,
    RefUpdate,
    Verdict,
)
from .quarantine import Quarantine
from .refs import RefMove, RefStore
from .sideband import SidebandWriter
from .unpack import WORKER_THRESHOLD, pack_header, unpack_and_check, unpack_in_worker

log = logging.getLogger(__name__)

CAPABILITIES = (
    b"report-status",
    b"delete-refs",
    b"side-band-64k",
    b"ofs-delta",
    b"atomic",
    b"push-options",
    b"quiet",
    b"object-format=sha1",
    b"agent=fleetgate/0.1",
)
MASTER = b"refs/heads/master"
MAIN = b"refs/heads/main"
TAGS = b"refs/tags/"
KEEPALIVE_SECONDS = 5.0


class ProtocolViolation(ValueError):
    """The client broke the push protocol."""


@dataclass(frozen=True)
class ReceiveContext:
    """Everything one receive-pack session needs, resolved by the SSH edge."""

    fleet: Fleet
    pusher: Pusher
    repo_path: Path
    limits: Limits
    pipeline: Pipeline
    still_allowed: Callable[[], bool]
    unpack_pool: Executor | None = None
    interruption: Interruption = field(default_factory=Interruption)  # the shutdown's, once the grace is over


@dataclass(frozen=True)
class Received:
    """How a push ended, for the operator's log: each ref's result, and whether fleetgate was at fault."""

    results: tuple[RefResult, ...] = ()  # () when the client asked for no update
    fault: bool = False


class ReceiveSession:
    """One push, from the ref advertisement to the report."""

    def __init__(
        self,
        ctx: ReceiveContext,
        proto: Protocol,
        stderr: Callable[[bytes], None],
        cancelled: threading.Event,
    ) -> None:
        self.ctx = ctx
        self.proto = proto
        self.stderr = stderr
        self.cancelled = cancelled
        self.refs = RefStore(ctx.repo_path)

    def run(self) -> Received:
        """Serve the whole exchange; returns when the report is sent (or nothing was asked)."""
        advertised = self._advertise()
        updates, caps = self._read_commands()
        if not updates:
            return Received()
        options = self._read_push_options() if b"push-options" in caps else ()
        out = SidebandWriter(self.proto, b"side-band-64k" in caps, self.stderr)
        quarantine = Quarantine(self.ctx.repo_path / "objects")
        try:
            return self._receive(updates, caps, options, advertised, quarantine, out)
        except ChannelClosed:
            raise
        except Exception:
            # fleetgate's fault: the pusher gets a reference, the operator the traceback.
            reference = uuid.uuid4().hex[:8]
            log.exception("push to %s failed (reference %s)", self.ctx.fleet.slug, reference)
            reason = f"internal error in fleetgate (reference {reference}); nothing was changed"
            out.report(
                [b"unpack " + reason.encode() + b"\n"]
                + [b"ng " + u.ref + b" " + reason.encode() + b"\n" for u in updates]
            )
            return Received(tuple(RefResult(u.ref, False, reason) for u in updates), fault=True)
        finally:
            quarantine.discard()

    def _advertise(self) -> dict[bytes, bytes]:
        master = self.refs.read(MASTER)
        refs = {MASTER: master, MAIN: master} if master != ZERO_SHA else {}
        # Tags are kept: `git push --follow-tags` sends only the ones the fleet lacks.
        refs.update(self.refs.tags())
        lines = sorted(refs.items()) or [(b"capabilities^{}", ZERO_SHA)]
        self.proto.write_pkt_line(format_ref_line(lines[0][0], lines[0][1], list(CAPABILITIES)))
        for ref, sha in lines[1:]:
            self.proto.write_pkt_line(format_ref_line(ref, sha))
        self.proto.write_pkt_line(None)
        return refs

    def _read_commands(self) -> tuple[list[RefUpdate], set[bytes]]:
        updates: list[RefUpdate] = []
        caps: set[bytes] = set()
        line = self.proto.read_pkt_line()
        if line is None:
            return [], caps
        line, first_caps = extract_capabilities(line)
        caps = set(first_caps)
        while line:
            updates.append(_parse_update(line))
            line = self.proto.read_pkt_line()
        return updates, caps

    def _read_push_options(self) -> tuple[str, ...]:
        options = []
        for line in self.proto.read_pkt_seq():
            options.append(line.rstrip(b"\n").decode("utf-8", "replace"))
            if len(options) > 100:
                raise ProtocolViolation("too many push options")
        return tuple(options)

    def _receive(
        self, updates, caps, options, advertised, quarantine: Quarantine, out: SidebandWriter
    ) -> Received:
        try:
            if any(not u.is_delete for u in updates):
                self._ingest(updates, quarantine, out, b"quiet" not in caps)
        except PackRejected as e:
            log.info("push to %s rejected: %s", self.ctx.fleet.slug, e)
            out.line(f"error: {e}")
            out.report(
                [b"unpack " + _one_line(str(e)) + b"\n"]
                + [b"ng " + u.ref + b" " + _one_line(str(e)) + b"\n" for u in updates]
            )
            return Received(tuple(RefResult(u.ref, False, str(e)) for u in updates))
        push = Push(self.ctx.fleet, self.ctx.pusher, tuple(updates), options, quarantine.store, advertised)
        decision, fault = self._decide(push, out)
        results = self._apply(push, decision, quarantine, b"atomic" in caps)
        if decision.after_update is not None:
            self._after_update(decision, results, out)
        out.report(
            [b"unpack ok\n"]
            + [
                (b"ok " + r.ref if r.ok else b"ng " + r.ref + b" " + _one_line(r.reason)) + b"\n"
                for r in results
            ]
        )
        return Received(tuple(results), fault)

    def _ingest(
        self, updates: list[RefUpdate], quarantine: Quarantine, out: SidebandWriter, say: bool
    ) -> None:
        progress = PackProgress(self._read_some, time.monotonic)
        ticks = Ticker(out.line if say else _silent, progress.line, self.ctx.limits.progress_interval)
        with ticks:
            self._unpack(updates, quarantine, progress.read_some)
        if say and progress.received and ticks.ticked:  # a long receive ends with its figures
            out.line(progress.done_line())

    def _unpack(
        self, updates: list[RefUpdate], quarantine: Quarantine, read_some: Callable[[int], bytes]
    ) -> None:
        # A branch must point at a commit; a tag (kept, never built) may name any object that arrived.
        tips = [u.new for u in updates if not u.is_delete and not u.ref.startswith(TAGS)]
        tagged = [u.new for u in updates if not u.is_delete and u.ref.startswith(TAGS)]
        objects_dir = self.ctx.repo_path / "objects"
        header = self.proto.read(12)
        count = pack_header(header)
        limits = self.ctx.limits
        if self.ctx.unpack_pool is None or count < WORKER_THRESHOLD:
            reader = _Prefixed(header, read_some)
            unpack_and_check(quarantine.store, objects_dir, reader.recv, limits, tips, tagged)
            return
        pool = self.ctx.unpack_pool
        unpack_in_worker(pool, quarantine.path, objects_dir, header, read_some, limits, tips, tagged)
        quarantine.reopen()  # the worker wrote the pack: see it

    def _after_update(self, decision: Decision, results: list[RefResult], out: SidebandWriter) -> None:
        # The refs have moved: a failure to record that is fleetgate's to repair (at the next start),
        # never a reason to tell the pusher the push failed.
        try:
            decision.after_update(results)
        except Exception:
            if self.ctx.interruption.interrupted:  # the shutdown ended the release first: nothing to repair
                log.info("push to %s: its release was interrupted by the shutdown", self.ctx.fleet.slug)
                return
            reference = uuid.uuid4().hex[:8]
            log.exception("recording the push to %s failed (reference %s)", self.ctx.fleet.slug, reference)
            out.line(
                f"warning: the push went through but fleetgate could not record it (reference {reference})"
            )

    def _read_some(self, size: int) -> bytes:
        recv = getattr(self.proto, "recv", None)
        return recv(size) if recv is not None else self.proto.read(size)

    def _decide(self, push: Push, out: SidebandWriter) -> tuple[Decision, bool]:
        """The pipeline's decision, and whether it failed by fleetgate's fault."""
        done = threading.Event()
        keepalive = threading.Thread(target=_keep_alive, args=(out, done, self.cancelled), daemon=True)
        keepalive.start()
        try:
            decision = self.ctx.pipeline(push, out, self.cancelled)
        except Exception:
            if self.ctx.interruption.interrupted:  # the shutdown ended its release under it: no fault
                log.info("push to %s interrupted by the shutdown", push.fleet.slug)
                return Decision(tuple(Verdict.reject(u.ref, SHUTDOWN_REASON) for u in push.updates)), False
            log.exception("pipeline failed for a push to %s", push.fleet.slug)
            reason = "internal error; see the gateway log"
            return Decision(tuple(Verdict.reject(u.ref, reason) for u in push.updates)), True
        finally:
            done.set()
            keepalive.join()
        known = {v.ref for v in decision.verdicts}
        missing = [Verdict.reject(u.ref, "no verdict") for u in push.updates if u.ref not in known]
        return Decision(decision.verdicts + tuple(missing), decision.after_update), False

    def _apply(self, push: Push, decision: Decision, quarantine: Quarantine, atomic: bool) -> list[RefResult]:
        by_ref = {u.ref: u for u in push.updates}
        accepted = [v for v in decision.verdicts if v.ok]
        if atomic and len(accepted) != len(decision.verdicts):
            return [RefResult(v.ref, False, v.reason or "atomic push failed") for v in decision.verdicts]
        if accepted and not self.ctx.interruption.commit():  # the shutdown came first: no ref moves
            return [RefResult(v.ref, False, SHUTDOWN_REASON) for v in decision.verdicts]
        if accepted and not self.ctx.still_allowed():
            # Checked again just before any ref moves: a key revoked mid-push stops the push.
            return [RefResult(v.ref, False, "access revoked during the push") for v in decision.verdicts]
        moves = {}
        for v in accepted:
            u = by_ref[v.ref]
            target = v.store_as or v.ref
            old = u.old if target == v.ref else push.refs.get(target, ZERO_SHA)
            moves[v.ref] = RefMove(target, old, u.new)
        if any(m.new != ZERO_SHA for m in moves.values()):
            quarantine.accept()
        outcome = self.refs.apply(list(moves.values()), atomic) if moves else {}
        results = []
        for v in decision.verdicts:
            if not v.ok:
                results.append(RefResult(v.ref, False, v.reason))
            else:
                reason = outcome[moves[v.ref].ref]
                results.append(RefResult(v.ref, not reason, reason))
        return results


class _Prefixed:
    """Reads that hand out bytes already consumed (the pack header) before reading on."""

    def __init__(self, first: bytes, read_some: Callable[[int], bytes]) -> None:
        self._first = first
        self._read_some = read_some

    def recv(self, size: int) -> bytes:
        taken, self._first = self._first[:size], self._first[size:]
        return taken or self._read_some(size)


def _silent(_line: str) -> None:
    """`git push -q` asked for no progress."""


def _keep_alive(out: SidebandWriter, done: threading.Event, cancelled: threading.Event) -> None:
    """During silent phases, an empty band-1 packet every few seconds keeps NATs and proxies open."""
    while not done.wait(KEEPALIVE_SECONDS):
        if time.monotonic() - out.last_write >= KEEPALIVE_SECONDS and not cancelled.is_set():
            try:
                out.keepalive()
            except ChannelClosed:
                cancelled.set()
                return


def _one_line(text: str) -> bytes:
    return " ".join(text.split()).encode("utf-8", "replace")[:900]


def _parse_update(line: bytes) -> RefUpdate:
    parts = line.rstrip(b"\n").split(b" ")
    if len(parts) != 3 or not all(_is_hex(p) for p in parts[:2]):
        raise ProtocolViolation("malformed ref update line")
    ref = parts[2]
    if not ref.startswith(b"refs/") or not check_ref_format(ref):
        raise ProtocolViolation(f"invalid ref name {ref[:200]!r}")
    return RefUpdate(ref=ref, old=parts[0], new=parts[1])


def _is_hex(value: bytes) -> bool:
    return len(value) == 40 and all(c in b"0123456789abcdef" for c in value)
