"""git fsck's object rules as pure functions over raw object bodies (DESIGN.md §2.2).

Follows git's fsck.c (`fsck_tree`, `fsck_commit`, `fsck_tag`) at the level receive-pack applies with
`transfer.fsckObjects` (warnings are errors), with two deliberate differences: mode 100664 is accepted
(git tolerates it from early repositories; its report is only informational), and the informational
symlink checks on `.gitignore`, `.gitattributes` and `.mailmap` are not made. A NUL in a commit
message (after the headers) is accepted as plain `git fsck` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice, repeat
from typing import NamedTuple

from .dotgit import is_dotgit, is_dotgitmodules

TREE = 0o40000
SYMLINK = 0o120000
GITLINK = 0o160000

# Raw mode bytes -> mode: a dict lookup parses the common case and rejects zero-padding, non-octal
# digits and bad modes at once; the slow path only explains what was wrong.
_MODES = {
    b"100644": 0o100644,
    b"100755": 0o100755,
    b"100664": 0o100664,
    b"120000": SYMLINK,
    b"40000": TREE,
    b"160000": GITLINK,
}
_SORT_SUFFIX = {raw: b"/" if mode == TREE else b"" for raw, mode in _MODES.items()}
# One entry: a mode from the table, a space, a non-empty name up to its NUL, 20 raw sha bytes.
_MODE_ALTERNATIVES = b"|".join(_MODES)
_ENTRY = re.compile(b"(" + _MODE_ALTERNATIVES + rb") ([^\0]++)\0(.{20})", re.DOTALL)
# A whole well-formed tree, matched from byte 0 without backtracking (possessive). findall alone
# would search on past a malformed entry, rescanning a long NUL-less run from every "100644 " in
# it: quadratic time on a crafted tree.
_TREE = re.compile(b"(?:(?:" + _MODE_ALTERNATIVES + rb") [^\0]++\0.{20})*+", re.DOTALL)
_NULL_SHA = bytes(20)
# Names starting with one of these may be a `.git`/`.gitmodules` look-alike (NTFS short names start
# with `g`); all others pass unless they hold a byte >= 0x80 (HFS+ ignorables), `\` or `/`.
_SUSPECT_FIRST = frozenset(b".gG")


class ObjectRejected(ValueError):
    """A pushed object breaks git fsck's rules; `str()` is one line saying what and where."""


class TreeRejected(ObjectRejected):
    """A pushed tree breaks git fsck's rules; the reason names the entry."""


class TreeEntry(NamedTuple):
    """One tree entry: mode, name and the 20 raw bytes of the sha (a tuple: one is made per entry)."""

    mode: int
    name: bytes
    sha: bytes


@dataclass(frozen=True)
class CommitLinks:
    """What a commit points at: its tree and parents, as 40 lower-case hex bytes."""

    tree: bytes
    parents: tuple[bytes, ...]


def check_tree(data: bytes) -> list[TreeEntry]:
    """Parse a raw tree body and return its entries, or raise TreeRejected for what git fsck refuses."""
    raw_modes, names, shas = check_tree_columns(data)
    modes = map(_MODES.__getitem__, raw_modes)
    return list(map(tuple.__new__, repeat(TreeEntry), zip(modes, names, shas, strict=True)))


def check_tree_columns(data: bytes) -> tuple[tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...]]:
    """Like `check_tree`, but the entries come as columns: raw modes (b"100644"...), names, raw shas.

    No tuple is made per entry: the ingest of a big push calls this for every tree it holds.
    """
    # Every step of the common case runs in C (regexes, zip, map, set): a 100 MB push holds
    # hundreds of thousands of entries. The Python loops below only explain a failure or look closer
    # at names that could be `.git` look-alikes.
    if not _TREE.fullmatch(data):
        raise TreeRejected(_parse_problem(data))
    if not data:
        return (), (), ()
    # The tree is well-formed, so findall's matches tile it: each starts where the last one ended.
    raw_modes, names, shas = zip(*_ENTRY.findall(data), strict=True)
    if _NULL_SHA in shas:
        raise TreeRejected(f"tree entry {_show(names[shas.index(_NULL_SHA)])} points to the null sha")
    if _is_suspect(b"\0" + b"\0".join(names)):
        _check_names(names, tuple(map(_MODES.__getitem__, raw_modes)))
    has_trees = b"40000" in raw_modes
    # git's tree order: bytes of the name, a tree compared as if its name ended in '/'.
    keys = list(map(bytes.__add__, names, map(_SORT_SUFFIX.__getitem__, raw_modes))) if has_trees else names
    # Strictly increasing keys: sorted, and no name twice in a row. A file and a tree of one name
    # have different keys and need not be adjacent, so trees with subtrees also get a set.
    if not all(map(bytes.__lt__, keys, islice(keys, 1, None))) or (
        has_trees and len(set(names)) != len(names)
    ):
        raise TreeRejected(_order_problem(names, keys))
    return raw_modes, names, shas


def _is_suspect(joined: bytes) -> bool:
    """Whether any of the NUL-joined names (with a leading NUL) may be refused: one C pass per test."""
    return (
        not joined.isascii()
        or b"\0." in joined
        or b"\0g" in joined
        or b"\0G" in joined
        or b"\\" in joined
        or b"/" in joined
    )


def _check_names(names: tuple[bytes, ...], modes: tuple[int, ...]) -> None:
    """Raise TreeRejected for the first suspect-looking name git fsck refuses."""
    for name, mode in zip(names, modes, strict=True):
        if name[0] in _SUSPECT_FIRST or not name.isascii() or b"\\" in name or b"/" in name:
            problem = _entry_problem(name, mode)
            if problem:
                raise TreeRejected(f"tree entry {_show(name)} {problem}")


def _order_problem(names: tuple[bytes, ...], keys: list[bytes] | tuple[bytes, ...]) -> str:
    """Name the first entry that repeats a name or breaks git's tree order."""
    seen: set[bytes] = set()
    prev_key = b""
    prev_name = b""
    for name, key in zip(names, keys, strict=True):
        if name in seen:
            return f"tree entry {_show(name)} is a duplicate"
        if key <= prev_key:
            return f"tree entry {_show(name)} is not sorted after {_show(prev_name)}"
        seen.add(name)
        prev_key, prev_name = key, name
    return "tree entries are not in git's order"


def _parse_problem(data: bytes) -> str:
    """Walk the tree as git does and say what is wrong with the first malformed entry."""
    pos = 0
    end = len(data)
    while pos < end:
        space = data.find(b" ", pos)
        if space < 0:
            return f"tree entry at byte {pos}: truncated (no space after the mode)"
        raw = data[pos:space]
        if raw not in _MODES:
            return _mode_problem(raw, pos)
        nul = data.find(b"\0", space + 1)
        if nul < 0:
            return f"tree entry at byte {pos}: truncated (no NUL after the name)"
        if nul == space + 1:
            return f"tree entry at byte {pos}: empty name"
        pos = nul + 21
        if pos > end:
            name = data[space + 1 : nul]
            return f"tree entry {_show(name)}: sha has {end - nul - 1} bytes, not 20"
    return "tree cannot be parsed"


def _mode_problem(raw: bytes, pos: int) -> str:
    """Explain why the mode of the entry at byte `pos` is refused."""
    where = f"tree entry at byte {pos}"
    shown = _show(raw[:16])
    if not raw:
        return f"{where}: empty mode"
    if raw.strip(b"01234567"):
        return f"{where}: mode {shown} is not octal"
    if raw.startswith(b"0"):
        return f"{where}: mode {shown} is zero-padded"
    return f"{where}: bad mode {shown} (allowed: 100644, 100755, 120000, 40000, 160000)"


def _entry_problem(name: bytes, mode: int) -> str | None:
    """What git fsck refuses in a suspect-looking name, or None."""
    if name == b"." or name == b"..":
        return "is not a valid name"
    if b"/" in name:
        return "contains '/'"
    if is_dotgit(name):
        return "is '.git' or a look-alike of it (case, NTFS short name or stream, HFS+ ignorable)"
    if mode == SYMLINK and is_dotgitmodules(name):
        return "is '.gitmodules' (or a look-alike) and a symlink"
    return None


def _show(name: bytes) -> str:
    """Quote a name from a pushed object for a one-line message."""
    text = name[:80].decode("utf-8", "backslashreplace")
    return ascii(text + "..." if len(name) > 80 else text)


# An ident after `author `/`committer `/`tagger `, as git's fsck_ident reads it: a name that does not
# start with '<' and ends in a space, `<email>`, a space, a date (strtoumax: leading blanks and a '+'
# pass), a space, a time zone `+hhmm`. Zero-padded dates and dates past time_t are checked after.
_IDENT = re.compile(rb"[^<>\n]* <[^<>\n]*> (?P<date>[ \t\v\f\r]*\+?[0-9]+) [+-][0-9]{4}\n")
_HEX40 = re.compile(rb"[0-9a-fA-F]{40}\n")
_TAG_TYPES = frozenset((b"commit", b"tree", b"blob", b"tag"))
# git's date_overflows: the date must fit a signed 64-bit time_t.
_TIME_LIMIT = 2**63


def check_commit(data: bytes) -> CommitLinks:
    """Check a raw commit body's headers as git fsck does; return its tree and parents."""
    _check_header_block(data, "commit")
    if not data.startswith(b"tree "):
        raise ObjectRejected("commit has no 'tree' line first")
    tree = _sha_line(data, 5, "commit", "tree")
    pos = 5 + 41
    parents: list[bytes] = []
    while data.startswith(b"parent ", pos):
        parents.append(_sha_line(data, pos + 7, "commit", "parent"))
        pos += 7 + 41
    authors = 0
    while data.startswith(b"author ", pos):
        authors += 1
        pos = _ident_line(data, pos + 7, "commit", "author")
    if authors != 1:
        raise ObjectRejected(
            "commit has no 'author' line" if not authors else "commit has more than one 'author' line"
        )
    if not data.startswith(b"committer ", pos):
        raise ObjectRejected("commit has no 'committer' line after its 'author' line")
    _ident_line(data, pos + 10, "commit", "committer")
    return CommitLinks(tree=tree, parents=tuple(parents))


def check_tag(data: bytes) -> bytes:
    """Check a raw annotated tag body's headers as git fsck does; return the tagged object's hex sha."""
    _check_header_block(data, "tag")
    if not data.startswith(b"object "):
        raise ObjectRejected("tag has no 'object' line first")
    target = _sha_line(data, 7, "tag", "object")
    pos = 7 + 41
    if not data.startswith(b"type ", pos):
        raise ObjectRejected("tag has no 'type' line after its 'object' line")
    eol = data.find(b"\n", pos)
    if eol < 0 or data[pos + 5 : eol] not in _TAG_TYPES:
        raise ObjectRejected(f"tag has a bad 'type' value {_show(data[pos + 5 : eol])}")
    pos = eol + 1
    if not data.startswith(b"tag ", pos):
        raise ObjectRejected("tag has no 'tag' line after its 'type' line")
    eol = data.find(b"\n", pos)
    if eol < 0:
        raise ObjectRejected("tag has no end of line after its 'tag' line")
    pos = eol + 1
    if data.startswith(b"tagger ", pos):
        # Early tags have no tagger (git only informs); a tagger line that is there must be valid.
        _ident_line(data, pos + 7, "tag", "tagger")
    return target


def _check_header_block(data: bytes, kind: str) -> None:
    """git's verify_headers: no NUL before the blank line, and the last header line ends in LF."""
    blank = data.find(b"\n\n")
    headers = data[: blank + 1] if blank >= 0 else data
    if b"\0" in headers:
        raise ObjectRejected(f"{kind} has a NUL byte in its headers")
    if blank < 0 and not data.endswith(b"\n"):
        raise ObjectRejected(f"{kind} headers are not terminated by a newline")


def _sha_line(data: bytes, pos: int, kind: str, header: str) -> bytes:
    """The 40-hex sha at `pos`, followed by LF, as lower-case hex bytes."""
    if not _HEX40.match(data, pos):
        raise ObjectRejected(f"{kind} has a bad '{header}' line (expected 40 hex digits)")
    return data[pos : pos + 40].lower()


def _ident_line(data: bytes, pos: int, kind: str, header: str) -> int:
    """Check the ident at `pos` as git's fsck_ident does; return where the next line starts."""
    match = _IDENT.match(data, pos)
    if not match:
        line = data[pos : data.find(b"\n", pos)]
        raise ObjectRejected(
            f"{kind} has a bad '{header}' line {_show(line)} (expected 'Name <email> date tz')"
        )
    date = match["date"]
    if date[:1] == b"0" and len(date) > 1:
        raise ObjectRejected(f"{kind} has a zero-padded date in its '{header}' line")
    # Count digits before int(): Python refuses to convert over 4300 digits, git's strtoumax saturates.
    digits = date.lstrip(b" \t\v\f\r+").lstrip(b"0")
    if len(digits) > 19 or int(digits or b"0") >= _TIME_LIMIT:
        raise ObjectRejected(f"{kind} has a date past time_t in its '{header}' line")
    return match.end()
