"""Push benchmark: fleetgate against native git over OpenSSH, measured in one run (DESIGN.md §7).

    .venv/bin/python bench/push.py                 # 100 MB history, 300 MB for the memory comparison
    .venv/bin/python bench/push.py --no-big        # skip the 300 MB pack
    .venv/bin/python bench/push.py --size-mb 50 --big-size-mb 150 --rounds 5

It starts Debian's sshd (own config, loopback port, root login with a generated key) in front of plain
bare repositories as the reference, and `fleetgate serve` (own FLEETGATE_HOME, SQLite) with a user,
key and fleets made through the CLI. Histories are generated (seeded, with git fast-import) and cached
under /var/tmp/fleetgate-bench/. It prints figures and ratios, and MISSED next to any figure over its
target; it exits 0 either way: it reports, it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (bench/ is not a package)
    MemorySampler,
    free_port,
    median,
    run,
    stop,
    tree_rss_anon_kib,
    wait_for_port,
)

CACHE = Path("/var/tmp/fleetgate-bench")
GEN_VERSION = 1
MB = 1024 * 1024
FLEETGATE = [sys.executable, "-m", "fleetgate.cli"]
DEVICE_TYPE = "raspberrypi3"
OWNER = "bench"

# ---------------------------------------------------------------------------------------------------
# A deterministic history: evolving source-like files (hunks inserted, tweaked, deleted; new files;
# the odd copied file) and binary assets that are replaced in parts, fed to git fast-import.
# ---------------------------------------------------------------------------------------------------

COMMITS_PER_MB = 60  # calibrated: packs come out within a few per cent of the size asked for
SYLLABLES = (
    "ka to ri mon ser vel dat ing proc han ler buf fer conf ig pars node dev ice fle et rel ease "
    "push pull reg ist ry lay er img tag ref obj pack idx hash net sock port time out lim cap"
).split()
KEYWORDS = ("self", "None", "True", "False", "await", "yield", "lambda", "not", "and", "or")
OPS = ("==", "!=", "<", ">=", "is", "in")


def _identifiers(rng: random.Random, count: int) -> list[str]:
    names = set()
    while len(names) < count:
        parts = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
        names.add("_".join(parts))
    return sorted(names)


def _line(rng: random.Random, words: list[str]) -> str:
    w = rng.choice
    ind = " " * (4 * rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4)))
    kind = rng.randrange(10)
    if kind == 0:
        return f"{ind}def {w(words)}({w(words)}, {w(words)}={rng.randrange(1000)}):"
    if kind == 1:
        return f"{ind}{w(words)} = {w(words)}.{w(words)}({w(words)}, {rng.randrange(100000)})"
    if kind == 2:
        return f"{ind}if {w(words)} {w(OPS)} {w(words)}.{w(words)}:"
    if kind == 3:
        return f"{ind}return {w(words)}({w(words)}, {w(KEYWORDS)})"
    if kind == 4:
        return f"{ind}# " + " ".join(rng.choices(words, k=rng.randint(3, 10)))
    if kind == 5:
        return f'{ind}log.{w(("info", "debug", "warning"))}("{w(words)} {w(words)} %s", {w(words)})'
    if kind == 6:
        return ""
    if kind == 7:
        return f"{ind}{w(words)}[{rng.randrange(64)}] = 0x{rng.getrandbits(32):08x}"
    return f"{ind}{w(words)} = {w(words)} + {w(words)} * {rng.randrange(1, 500)}"


class Generator:
    """Writes a fast-import stream of `commits` commits, then `followups` one-file commits on `next`."""

    def __init__(self, seed: int, commits: int, followups: int) -> None:
        self.rng = random.Random(seed)
        self.commits = commits
        self.followups = followups
        words = _identifiers(self.rng, 3000)
        self.pool = [_line(self.rng, words) for _ in range(150_000)]
        self.words = words
        self.dirs = [f"src/{name}" for name in words[:30]]
        self.files: dict[str, list[str]] = {}
        self.assets: dict[str, bytes] = {}
        self.recent: list[str] = []
        self.mark = 0
        self.when = 1_600_000_000

    # -- content -------------------------------------------------------------------------------------

    def _lines(self, count: int) -> list[str]:
        return [self.pool[self.rng.randrange(len(self.pool))] for _ in range(count)]

    def _new_file(self) -> tuple[str, list[str]]:
        rng = self.rng
        if rng.random() < 0.02:
            self.dirs.append(f"src/{rng.choice(self.words)}/{rng.choice(self.words)}")
        path = f"{rng.choice(self.dirs)}/{rng.choice(self.words)}.py"
        while path in self.files:
            path = path[:-3] + "_.py"
        if self.files and rng.random() < 0.05:  # a copied file, then edited
            lines = list(self.files[rng.choice(sorted(self.files))])
            self._edit(lines)
        else:
            lines = self._lines(int(rng.lognormvariate(5.8, 0.7)) + 20)
        return path, lines

    def _edit(self, lines: list[str]) -> None:
        rng = self.rng
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            pos = rng.randrange(len(lines) + 1)
            kind = rng.random()
            if kind < 0.5:  # tweak a few lines
                count = rng.randint(1, 5)
                lines[pos : pos + count] = self._lines(count)
            elif kind < 0.85:  # a new block
                lines[pos:pos] = self._lines(rng.randint(5, 70))
            else:  # a block goes
                del lines[pos : pos + rng.randint(3, 30)]
        if not lines:
            lines.extend(self._lines(10))

    def _asset(self) -> tuple[str, bytes]:
        rng = self.rng
        if self.assets and rng.random() < 0.6:  # a new version of an asset: some regions replaced
            path = rng.choice(sorted(self.assets))
            data = bytearray(self.assets[path])
            for _ in range(rng.randint(1, 4)):
                size = min(len(data), rng.randint(1024, 64 * 1024))
                at = rng.randrange(len(data) - size + 1)
                data[at : at + size] = rng.randbytes(size)
            return path, bytes(data)
        path = f"assets/{rng.choice(self.words)}-{len(self.assets)}.bin"
        return path, rng.randbytes(int(min(rng.lognormvariate(11.5, 1.0), 2 * MB)))

    def _pick_file(self) -> str:
        rng = self.rng
        if self.recent and rng.random() < 0.6:
            return rng.choice(self.recent[-40:])
        return rng.choice(sorted(self.files)) if len(self.files) < 50 else self._random_key()

    def _random_key(self) -> str:
        keys = getattr(self, "_keys", None)
        if keys is None or len(keys) != len(self.files):
            keys = self._keys = sorted(self.files)
        return keys[self.rng.randrange(len(keys))]

    # -- the stream ----------------------------------------------------------------------------------

    def stream(self) -> Iterator[bytes]:
        for _ in range(150):  # an initial import
            path, lines = self._new_file()
            self.files[path] = lines
        yield self._commit("refs/heads/master", "initial import", [(p, None) for p in self.files])
        for i in range(1, self.commits):
            yield self._commit("refs/heads/master", f"change {i}", self._changes())
        yield b"reset refs/heads/next\nfrom refs/heads/master\n\n"
        for i in range(self.followups):
            path = self._pick_file()
            self._edit(self.files[path])
            yield self._commit("refs/heads/next", f"follow-up {i}", [(path, None)])

    def _changes(self) -> list[tuple[str, bytes | None]]:
        rng = self.rng
        changes: list[tuple[str, bytes | None]] = []
        if rng.random() < 0.035:
            path, data = self._asset()
            self.assets[path] = data
            changes.append((path, data))
        for _ in range(min(1 + int(rng.expovariate(0.5)), 12)):
            roll = rng.random()
            if roll < 0.08:
                path, lines = self._new_file()
                self.files[path] = lines
            elif roll < 0.09 and len(self.files) > 100:
                path = self._random_key()
                del self.files[path]
                changes.append((path, b""))
                continue
            else:
                path = self._pick_file()
                self._edit(self.files[path])
            self.recent.append(path)
            changes.append((path, None))
        del self.recent[:-200]
        return changes

    def _commit(self, ref: str, message: str, changes: list[tuple[str, bytes | None]]) -> bytes:
        self.mark += 1
        self.when += self.rng.randint(60, 7200)
        who = f"Bench Author <bench@example.org> {self.when} +0000"
        msg = message.encode()
        out = [f"commit {ref}\nmark :{self.mark}\nauthor {who}\ncommitter {who}\n".encode()]
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        for path, data in dict(changes).items():
            if data == b"":
                out.append(f"D {path}\n".encode())
                continue
            if data is None:
                data = ("\n".join(self.files[path]) + "\n").encode()
            out.append(f"M 100644 inline {path}\n".encode())
            out.append(b"data %d\n%s\n" % (len(data), data))
        out.append(b"\n")
        return b"".join(out)


@dataclass(frozen=True)
class History:
    """A cached bare repository: `master` is the big history, `followups` are one commit each after it."""

    path: Path
    size_mb: int
    pack_bytes: int
    objects: int
    master: str
    followups: list[str]

    @property
    def pack_mb(self) -> float:
        return self.pack_bytes / MB


def _git(repo: Path, *args: str, **kwargs) -> str:
    return run(["git", "--git-dir", str(repo), *args], **kwargs).stdout.decode().strip()


def generate(path: Path, size_mb: int, seed: int, followups: int) -> None:
    """Build the bare repository at `path` (fast-import, then one full repack as `git gc` would)."""
    run(["git", "init", "-q", "--bare", "-b", "master", str(path)])
    gen = Generator(seed, max(20, size_mb * COMMITS_PER_MB), followups)
    importer = subprocess.Popen(
        ["git", "--git-dir", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert importer.stdin is not None
    try:
        for chunk in gen.stream():
            importer.stdin.write(chunk)
        importer.stdin.close()
    finally:
        if importer.wait() != 0:
            raise RuntimeError("git fast-import failed")
    run(["git", "--git-dir", str(path), "repack", "-a", "-d", "-f", "-q", "--window=10", "--depth=50"])


def pack_size(repo: Path, rev: str) -> tuple[int, int]:
    """Bytes and object count of the pack a push of `rev` into an empty repository sends."""
    objects = run(["git", "--git-dir", str(repo), "rev-list", "--objects", "--count", rev]).stdout
    packer = subprocess.Popen(
        ["git", "--git-dir", str(repo), "pack-objects", "--revs", "--stdout", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert packer.stdin is not None and packer.stdout is not None
    packer.stdin.write(rev.encode() + b"\n")
    packer.stdin.close()
    total = 0
    while chunk := packer.stdout.read(MB):
        total += len(chunk)
    if packer.wait() != 0:
        raise RuntimeError("git pack-objects failed")
    return total, int(objects)


def history(size_mb: int, seed: int, followups: int = 12) -> History:
    """The cached history for (size, seed), generated on first use."""
    name = f"history-{size_mb}mb-seed{seed}-g{GEN_VERSION}"
    path = CACHE / f"{name}.git"
    meta_path = CACHE / f"{name}.json"
    if not meta_path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=CACHE))
        try:
            started = time.monotonic()
            print(f"generating a ~{size_mb} MB history (seed {seed}) in {path} ...", flush=True)
            generate(tmp / "repo.git", size_mb, seed, followups)
            master = _git(tmp / "repo.git", "rev-parse", "master")
            chain = _git(tmp / "repo.git", "rev-list", "--reverse", "master..next").split()
            pack_bytes, objects = pack_size(tmp / "repo.git", "master")
            os.rename(tmp / "repo.git", path)
            meta = {"pack_bytes": pack_bytes, "objects": objects, "master": master, "followups": chain}
            meta_path.write_text(json.dumps(meta))
            print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    meta = json.loads(meta_path.read_text())
    return History(path, size_mb, meta["pack_bytes"], meta["objects"], meta["master"], meta["followups"])
