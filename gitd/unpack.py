"""Unpack a pushed pack and check it: small packs in the push's thread, big ones in a worker process.

Ingesting is CPU-bound Python (inflate, SHA-1, tree checks); in threads of one process the GIL would run
two big pushes one after the other. A big pack therefore streams through a FIFO in its quarantine to a
process of a small pool, which unpacks and checks it there and answers with the verdict alone.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path

from dulwich.object_store import DiskObjectStore

from fleetgate.limits import Limits

from .connectivity import check_connected, check_tips
from .ingest import IngestedPack, PackRejected, ingest_frames, ingest_pack
from .pack_stream import receive

# Below this many objects the hand-off costs more than the GIL does.
WORKER_THRESHOLD = 2000
FORWARD_CHUNK = 1 << 20
PR_SET_PDEATHSIG = 1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024

Read = Callable[[int], bytes]
log = logging.getLogger(__name__)


def unpack_and_check(
    quarantine: DiskObjectStore,
    objects_dir: Path,
    read_some: Read,
    limits: Limits,
    tips: Sequence[bytes],
    tagged: Sequence[bytes] = (),
) -> None:
    """Ingest the pack into the quarantine in this thread and run every check of DESIGN.md §2.2.

    `tips` are new branch tips (commits); `tagged` what new tags name (any object).
    """
    _check(ingest_pack(quarantine, read_some, limits), objects_dir, tips, tagged)


def _check(pack: IngestedPack, objects_dir: Path, tips: Sequence[bytes], tagged: Sequence[bytes]) -> None:
    """The checks over the whole push: connectivity and the tips' types (tree shapes were measured
    as the trees arrived)."""
    repository = DiskObjectStore(str(objects_dir))
    try:
        check_connected(pack.links, lambda sha: sha.hex().encode() in repository)
        check_tips(tips, pack.links, _type_of(repository), tagged)
    finally:
        repository.close()
        pack.links.close()


def _type_of(store: DiskObjectStore) -> Callable[[bytes], int | None]:
    def type_in_repository(sha: bytes) -> int | None:
        try:
            return store.get_raw(sha)[0]
        except KeyError:
            return None

    return type_in_repository


def pack_header(header: bytes) -> int:
    """The object count of a pack from its 12-byte header."""
    if len(header) != 12 or header[:4] != b"PACK" or struct.unpack(">I", header[4:8])[0] not in (2, 3):
        raise PackRejected("the data sent is not a git pack")
    return struct.unpack(">I", header[8:])[0]


def start_pack_stream(fifo: str, path: str, limits: Limits) -> subprocess.Popen[bytes]:
    """The pack stream as a process of its own: `fifo` in, the pack to `path`, frames on its stdout."""
    caps = [str(limits.pack_bytes), str(limits.object_bytes), str(limits.object_count)]
    # -P: the gateway's working directory may be a checkout whose folders would shadow the package.
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "fleetgate.gitd.pack_stream", fifo, path, *caps],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )


def unpack_from_fifo(
    fifo: str,
    quarantine_dir: str,
    objects_dir: str,
    limits: Limits,
    tips: Sequence[bytes],
    tagged: Sequence[bytes] = (),
) -> str | None:
    """Worker-process entry: unpack what arrives on `fifo`; the rejection reason, or None when accepted.

    The pack stream (inflating, the disk, CRCs) runs in a process of its own and hands this one its
    objects in batches: inflating and resolving then take a core each (DESIGN.md §7).
    """
    quarantine = DiskObjectStore(quarantine_dir)
    fd, path = tempfile.mkstemp(dir=quarantine.pack_dir, prefix="tmp_pack_")
    os.close(fd)
    reader = start_pack_stream(fifo, path, limits)
    try:
        assert reader.stdout is not None
        with reader.stdout as frames:
            pack = ingest_frames(quarantine, Path(path), receive(frames), limits)
        _check(pack, Path(objects_dir), tips, tagged)
    except PackRejected as e:
        return str(e)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.wait()
        Path(path).unlink(missing_ok=True)  # gone already when the pack was installed
        quarantine.close()
    return None


def _worker_setup() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    # A gateway killed with SIGKILL cannot stop its workers: the kernel does it (PR_SET_PDEATHSIG).
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # it died before the line above ran
        os._exit(1)
    # Objects of 64 KiB and more get their own mappings, returned to the system when freed. glibc's
    # default threshold grows with the sizes it sees, and a pack's stream of large, short-lived
    # objects then fragments the heap: RssAnon grew with the pack instead of staying flat.
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The unpack workers: spawned, never forked, so the gateway's threads and loop are not copied."""
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_setup
    )
    pool.submit(time.sleep, 0)  # start the workers now: their imports take a while
    return pool


def unpack_in_worker(
    pool: Executor,
    quarantine_dir: Path,
    objects_dir: Path,
    header: bytes,
    read_some: Read,
    limits: Limits,
    tips: Sequence[bytes],
    tagged: Sequence[bytes] = (),
) -> None:
    """Stream the rest of the pack to a worker through a FIFO; raise PackRejected with its verdict."""
    log.info("unpacking %d objects in a worker process", pack_header(header))
    fifo = quarantine_dir / "pack.fifo"
    os.mkfifo(fifo, 0o600)
    future = pool.submit(
        unpack_from_fifo, str(fifo), str(quarantine_dir), str(objects_dir), limits, list(tips), list(tagged)
    )
    fd = _open_writer(fifo, future)
    if fd is not None:
        # The forwarder may block on a client that never half-closes; the verdict does not wait for it.
        threading.Thread(
            target=_forward, args=(fd, header, read_some), name="pack-forward", daemon=True
        ).start()
    verdict = future.result()
    if verdict is not None:
        raise PackRejected(verdict)


def _open_writer(fifo: Path, reader: Future) -> int | None:
    # Opening a FIFO for writing blocks until a reader opens it; a worker that died never will.
    while not reader.done():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            time.sleep(0.005)
            continue
        os.set_blocking(fd, True)
        return fd
    return None


def _forward(fd: int, header: bytes, read_some: Read) -> None:
    try:
        data = header
        while data:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            data = read_some(FORWARD_CHUNK)
    except (BrokenPipeError, ConnectionError):
        pass  # the worker stopped reading (a verdict came early) or the client went away
    finally:
        os.close(fd)
