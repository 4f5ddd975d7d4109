"""SSH public keys: parsing OpenSSH key lines (pure) and the keys each user authenticates with."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import models, users

# `type base64 [comment]`: the one format accepted; PEM, RFC 4716 and authorized_keys options are not.
KEY_LINE = re.compile(
    r"(?P<type>[a-z0-9][a-z0-9.@-]*)\s+(?P<blob>AAAA[A-Za-z0-9+/]+=*)(?:\s+(?P<comment>.*))?"
)
# Where a key type appears later in the line, whatever precedes it is authorized_keys options.
KEY_TYPE = re.compile(r"(?:^|\s)(?:ssh|ecdsa|sk)-[a-z0-9.@-]+\s+AAAA")
DSA = re.compile(r"(?:^|\s)ssh-dss\s+AAAA")
MIN_RSA_BITS = 2048
# Key sizes for types whose pyca object has no key_size.
FIXED_BITS = {"ssh-ed25519": 256, "sk-ssh-ed25519@openssh.com": 256, "ssh-ed448": 456}


class PublicKeyError(ValueError):
    """A public key was refused; the message says why and what to do."""


@dataclass(frozen=True)
class PublicKey:
    """A parsed OpenSSH public key; `line` is the normalised `type base64`, without comment."""

    type: str
    bits: int
    fingerprint: str
    comment: str
    line: str


@dataclass(frozen=True)
class StoredKey:
    """A user's registered key."""

    user: str
    fingerprint: str
    type: str
    bits: int
    title: str
    line: str
    created: datetime


def _refuse_by_form(line: str) -> None:
    if "PRIVATE KEY" in line:
        raise PublicKeyError("this is a private key; never share it: add the .pub file next to it instead")
    if DSA.search(line):
        raise PublicKeyError("DSA keys are not accepted; generate an ed25519 key with ssh-keygen -t ed25519")
    found = KEY_TYPE.search(line)
    if found and found.start() > 0 and not KEY_LINE.fullmatch(line):
        raise PublicKeyError(
            "authorized_keys options (command=, no-pty, from=, ...) are not accepted; "
            "give the bare key line as in your .pub file"
        )


def _bits(key: Any, key_type: str) -> int:  # an asyncssh.SSHKey
    if key_type in FIXED_BITS:
        return FIXED_BITS[key_type]
    return int(key.pyca_key.key_size)


def parse_public_key(line: str) -> PublicKey:
    """Parse one OpenSSH public key line and apply fleetgate's key rules."""
    line = line.strip()
    _refuse_by_form(line)
    match = KEY_LINE.fullmatch(line)
    if not match:
        raise PublicKeyError("not an OpenSSH public key line; expected e.g. 'ssh-ed25519 AAAA... you@host'")
    key_type = match["type"]
    if "-cert-" in key_type:
        raise PublicKeyError("SSH certificates are not accepted; add the plain public key (the .pub file)")
    # asyncssh imported here: most commands parse no key, and it is a fifth of the CLI's start-up.
    from .asyncssh_import import asyncssh

    try:
        key = asyncssh.import_public_key(f"{key_type} {match['blob']}")
    except (asyncssh.KeyImportError, ValueError):
        raise PublicKeyError(f"the {key_type} key is damaged or of an unknown type; copy it again") from None
    if key.algorithm.decode() != key_type:
        raise PublicKeyError(f"the key data is {key.algorithm.decode()}, not {key_type}; copy it again")
    bits = _bits(key, key_type)
    if key_type == "ssh-rsa" and bits < MIN_RSA_BITS:
        raise PublicKeyError(
            f"RSA keys need at least {MIN_RSA_BITS} bits, this one has {bits}; "
            "generate an ed25519 key with ssh-keygen -t ed25519"
        )
    blob = base64.b64encode(key.public_data).decode()
    fingerprint = key.get_fingerprint("sha256")
    return PublicKey(key_type, bits, fingerprint, match["comment"] or "", f"{key_type} {blob}")


def parse_public_keys(text: str) -> list[PublicKey]:
    """Parse every key line of a file; blank lines and `#` comments are skipped."""
    keys: dict[str, PublicKey] = {}
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            key = parse_public_key(line)
        except PublicKeyError as error:
            raise PublicKeyError(f"line {number}: {error}" if len(lines) > 1 else str(error)) from None
        keys.setdefault(key.fingerprint, key)
    if not keys:
        raise PublicKeyError("no public key found; give a .pub file, e.g. ~/.ssh/id_ed25519.pub")
    return list(keys.values())


def _stored(row: models.SSHKey, user: str) -> StoredKey:
    return StoredKey(user, row.fingerprint, row.key_type, row.bits, row.title, row.public_key, row.created)


def add_keys(session: Session, user: str, text: str, title: str | None = None) -> list[PublicKey]:
    """Register every key in `text` for `user`; a key registered already (to anyone) is refused."""
    owner = users.row(session, user)
    keys = parse_public_keys(text)
    for key in keys:
        if session.scalar(select(models.SSHKey.id).where(models.SSHKey.fingerprint == key.fingerprint)):
            raise PublicKeyError(f"key {key.fingerprint} is already registered; each key has one user")
        session.add(
            models.SSHKey(
                user_id=owner.id,
                fingerprint=key.fingerprint,
                key_type=key.type,
                bits=key.bits,
                public_key=key.line,
                title=(title if title is not None else key.comment)[:200],
            )
        )
    try:
        session.flush()
    except IntegrityError:  # registered by someone else since the check above
        raise PublicKeyError("a key given is already registered; each key has one user") from None
    return keys


def list_keys(session: Session, user: str) -> list[StoredKey]:
    """The user's keys, oldest first."""
    owner = users.row(session, user)
    rows = session.scalars(
        select(models.SSHKey).where(models.SSHKey.user_id == owner.id).order_by(models.SSHKey.id)
    )
    return [_stored(row, user) for row in rows]


def normalise_fingerprint(fingerprint: str) -> str:
    """`SHA256:...` as ssh-keygen -l prints it; the prefix may be left out."""
    fingerprint = fingerprint.strip()
    return fingerprint if fingerprint.startswith("SHA256:") else f"SHA256:{fingerprint}"


def remove_key(session: Session, user: str, fingerprint: str) -> None:
    """Revoke one of the user's keys; it stops working for new logins and for pushes in flight."""
    owner = users.row(session, user)
    fingerprint = normalise_fingerprint(fingerprint)
    row = session.scalar(
        select(models.SSHKey).where(
            models.SSHKey.user_id == owner.id, models.SSHKey.fingerprint == fingerprint
        )
    )
    if row is None:
        raise PublicKeyError(f"user {user!r} has no key {fingerprint}; see: fleetgate key list {user}")
    session.delete(row)
    session.flush()


def find_key_owner(session: Session, fingerprint: str) -> str | None:
    """The name of the user the key with this fingerprint belongs to, None for an unknown key."""
    return session.scalar(
        select(models.User.name)
        .join(models.SSHKey, models.SSHKey.user_id == models.User.id)
        .where(models.SSHKey.fingerprint == fingerprint)
    )
