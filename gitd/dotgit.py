"""Names that some filesystem git checks out on reads as `.git` or `.gitmodules` (git's path.c, utf8.c).

A tree entry named `.GIT`, `git~1` (NTFS 8.3), `.git ` (NTFS drops trailing spaces and dots),
`.git::$INDEX_ALLOCATION` (an NTFS stream) or `.git` with code points HFS+ ignores would be the
repository's own `.git` once checked out: git fsck refuses them all (CVE-2014-9390, CVE-2019-1352).
"""

from __future__ import annotations

import re

# Code points HFS+ ignores when comparing names (git's next_hfs_char in utf8.c).
_HFS_IGNORED = frozenset(
    "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"
)
# What git's UTF-8 decoder refuses but Python's accepts; git stops comparing there.
_HFS_END = re.compile("[\ufffe\uffff]")


def is_dotgit(name: bytes) -> bool:
    """Whether git refuses `name` as `.git`: is_hfs_dotgit || is_ntfs_dotgit, also after each backslash."""
    if _is_ntfs_dotgit(name):
        return True
    if not name.isascii() and b"." in name and _is_hfs_dot(name, "git"):
        return True
    # git fsck treats '\' as a directory separator everywhere: the tree may be checked out on Windows.
    return any(_is_ntfs_dotgit(part) for part in name.split(b"\\")[1:])


def is_dotgitmodules(name: bytes) -> bool:
    """Whether git reads `name` as `.gitmodules` on some filesystem (HFS+, NTFS), also after a backslash."""
    if _is_ntfs_dot(name, b"gitmodules", b"gi7eba"):
        return True
    if not name.isascii() and b"." in name and _is_hfs_dot(name, "gitmodules"):
        return True
    return any(_is_ntfs_dot(part, b"gitmodules", b"gi7eba") for part in name.split(b"\\")[1:])


def _is_ntfs_dotgit(name: bytes) -> bool:
    """`.git` or `git~1` in any case, then only spaces and dots up to the end, a separator or a ':'."""
    low = name[:5].lower()
    if low[:4] == b".git":
        rest = name[4:]
    elif low == b"git~1":
        rest = name[5:]
    else:
        return False
    # NTFS drops trailing spaces and dots; ':' starts an alternate data stream (`.git::$INDEX_ALLOCATION`).
    rest = rest.lstrip(b". ")
    return not rest or rest[0] in b"\\/:"


def _is_ntfs_dot(name: bytes, needle: bytes, short_prefix: bytes) -> bool:
    """git's is_ntfs_dot_generic: `.needle`, its 8.3 short name (`gitmod~1`-`~4`) or a hashed one."""
    low = name.lower()
    if low[:1] == b"." and low[1 : 1 + len(needle)] == needle:
        return _only_spaces_and_periods(name[1 + len(needle) :])
    if low[:6] == needle[:6] and low[6:7] == b"~" and b"1" <= low[7:8] <= b"4":
        return _only_spaces_and_periods(name[8:])
    # The fall-back short name: up to 6 bytes of the hashed prefix, '~', a digit 1-9, more digits, 8 bytes.
    if len(name) < 8:
        return False
    tilde = low.find(b"~", 0, 7)
    if tilde < 0 or low[:tilde] != short_prefix[:tilde]:
        return False
    digits = low[tilde + 1 : 8]
    if not digits.isdigit() or digits[:1] == b"0":
        return False
    return _only_spaces_and_periods(name[8:])


def _only_spaces_and_periods(rest: bytes) -> bool:
    """What NTFS ignores at the end of a name: spaces and dots, or anything after a ':' (a stream)."""
    rest = rest.lstrip(b". ")
    return not rest or rest[:1] == b":"


def _is_hfs_dot(name: bytes, needle: str) -> bool:
    """git's is_hfs_dot_generic: `.needle` in any ASCII case once HFS+ ignorable code points are dropped."""
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError as bad:
        # git stops at the first invalid sequence and treats it as the end of the name.
        text = name[: bad.start].decode("utf-8")
    cut = _HFS_END.search(text)
    if cut:
        text = text[: cut.start()]
    visible = "".join(c for c in text if c not in _HFS_IGNORED)
    head = visible[: 1 + len(needle)]
    tail = visible[1 + len(needle) : 2 + len(needle)]
    return head.isascii() and head.lower() == "." + needle and tail in ("", "/")
