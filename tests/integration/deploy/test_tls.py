"""The device API over TLS with a certificate from the test's own CA; plain HTTP only on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..support import FLEETGATE, SERVE, new_gateway
from .conftest import fleet_with_key, new_uuid, registry_env, start_api


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca_and_server_cert(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1 and localhost; returns (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("fleetgate test CA"))
        .issuer_name(_name("fleetgate test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def test_the_api_serves_tls_that_a_device_trusting_the_ca_accepts(tmp_path: Path) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    tls = {"FLEETGATE_HTTP_CERT": str(cert), "FLEETGATE_HTTP_KEY": str(key)}
    api = start_api(tmp_path, tls, verify=str(ca))
    try:
        assert api.url.startswith("https://127.0.0.1:")
        provisioning = fleet_with_key(api, "alice/secure")
        device_key = api.register(provisioning, "raspberrypi3", new_uuid())
        answer = api.client(device_key).get("/v1/device/state")
        assert answer.status_code == 200 and answer.json()["fleet"]["slug"] == "alice/secure"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{api.url}/openapi.json", verify=True)  # the system's CAs do not know ours
        plain = api.url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the TLS port
            httpx.get(f"{plain}/openapi.json", timeout=5)
        trusting = ssl.create_default_context(cafile=str(ca))
        assert httpx.get(f"{api.url}/openapi.json", verify=trusting).status_code == 200
    finally:
        api.close()
        api.gw.stop()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"FLEETGATE_HTTP_LISTEN": "0.0.0.0:0"},
         "plain HTTP on 0.0.0.0 would send device keys in clear; set FLEETGATE_HTTP_CERT and "
         "FLEETGATE_HTTP_KEY (PEM files), or listen on 127.0.0.1"),
        ({"FLEETGATE_HTTP_CERT": "/nonexistent.pem"},
         "set both FLEETGATE_HTTP_CERT and FLEETGATE_HTTP_KEY (PEM certificate and its private key), or "
         "neither"),
    ],
)  # fmt: skip
def test_serve_refuses_plain_http_off_loopback_in_one_line(tmp_path: Path, env, line) -> None:
    gw = new_gateway(tmp_path, SERVE, {**registry_env(), **env})
    result = subprocess.run([*FLEETGATE, "serve"], env=gw.env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (1, f"fleetgate: error: {line}\n")
