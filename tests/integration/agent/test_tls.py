"""The agent over HTTPS: it trusts the API's certificate through --ca-cert, and nothing else."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..conftest import AUTH_PASSWORD, AUTH_USER
from ..deploy.test_tls import make_ca_and_server_cert
from ..support import SERVE, free_port, new_gateway
from .conftest import Fleet, wait_running
from .devices import until


def test_an_agent_trusting_the_ca_registers_and_runs_the_release_over_https(
    tmp_path: Path, auth_registry: str, devices
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca, cert, key = make_ca_and_server_cert(certs)
    http_port = free_port()
    gw = new_gateway(
        tmp_path,
        SERVE,
        {
            "FLEETGATE_REGISTRY": auth_registry,
            "FLEETGATE_REGISTRY_USER": AUTH_USER,
            "FLEETGATE_REGISTRY_PASSWORD": AUTH_PASSWORD,
            "FLEETGATE_HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "FLEETGATE_HTTP_CERT": str(cert),
            "FLEETGATE_HTTP_KEY": str(key),
        },
    )
    gw.start()
    try:
        api = f"https://127.0.0.1:{http_port}"
        fleet = Fleet(gw, api, "alice/tls", tmp_path / "work")
        release = fleet.push()
        untrusting, trusting = devices(1), devices(2)
        untrusting.start(api, fleet.provisioning_key)
        trusting.start(api, fleet.provisioning_key, "generic-amd64", "--ca-cert", str(ca))
        wait_running([trusting], release)
        assert trusting.identity["api"] == api
        time.sleep(1)
        log = untrusting.log.read_text()
        assert "CERTIFICATE_VERIFY_FAILED" in log and not (untrusting.state_dir / "device.json").exists()
        until(lambda: fleet.devices()[trusting.uuid]["status"] == "idle", 10, "the report over https")
    finally:
        gw.stop()
        shutil.rmtree(certs, ignore_errors=True)
