"""Registry signing key: the P-256 key and self-signed certificate that sign registry tokens.

Both live in FLEETGATE_HOME and are made on first use. The registry trusts the certificate through its
`auth.token.rootcertbundle`, so the operator copies (or points at) that file once; the key never leaves
fleetgate (0600). Rotating means deleting both files, restarting, and giving the registry the new
certificate (a bundle may hold the old and the new one for the switch-over).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .registry_token import Signer

CERT_YEARS = 10  # the registry checks the validity window; a lapse would stop every pull at once


class SigningKeyError(RuntimeError):
    """The key or certificate file is unreadable: the operator's to fix."""


@dataclass(frozen=True)
class SigningKey:
    """The private key (PEM) and its certificate (DER and PEM)."""

    private_key_pem: bytes
    certificate_der: bytes
    certificate_pem: bytes

    def signer(self, issuer: str, service: str) -> Signer:
        """A Signer for the core."""
        return Signer(issuer, service, self.private_key_pem, self.certificate_der)

    def pull_secret(self) -> bytes:
        """The HMAC key of rollout pull credentials, derived from the private key (rotates with it)."""
        return hmac.new(self.private_key_pem, b"fleetgate rollout pull credential", hashlib.sha256).digest()


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write a new file with `mode` from the start (never a moment world-readable), atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _create(key_path: Path, cert_path: Path, common_name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))  # a registry whose clock runs behind still accepts it
        .not_valid_after(now + timedelta(days=365 * CERT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    _write(key_path, pem, 0o600)
    # The certificate is public and the registry (often another user) must read it.
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def load_or_create(
    key_path: Path, cert_path: Path, common_name: str = "fleetgate registry tokens"
) -> SigningKey:
    """The signing key and certificate, made on first use."""
    if not key_path.exists() and not cert_path.exists():
        _create(key_path, cert_path, common_name)
    try:
        key_pem = key_path.read_bytes()
        cert_pem = cert_path.read_bytes()
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (OSError, ValueError) as error:
        raise SigningKeyError(
            f"cannot read the registry signing key {key_path} or certificate {cert_path}: {error}; "
            "delete both to make new ones (then give the registry the new certificate)"
        ) from None
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        raise SigningKeyError(
            f"{cert_path} is not the certificate of {key_path}; delete both to make new ones "
            "(then give the registry the new certificate)"
        )
    return SigningKey(key_pem, cert.public_bytes(serialization.Encoding.DER), cert_pem)
