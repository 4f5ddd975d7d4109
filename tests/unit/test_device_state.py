"""The target document as the planner sees it: strategies, timeouts, order, names, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from fleetgate.deploy.device_state import TargetDocumentError, label_warnings, parse_target

IMAGE = "127.0.0.1:5001/alice/demo/main@sha256:" + "1" * 64


def doc(services: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "device": {"uuid": "d" * 32, "lock_override": top.pop("lock_override", False)},
        "fleet": {"slug": "alice/demo", "name": "demo", "id": 7},
        "release": {"hash": "c" * 32, "name": "alice/demo#2"},
        "services": {n: {"image": IMAGE, "compose": c, "environment": {}} for n, c in services.items()},
        **top,
    }


@pytest.mark.parametrize(
    ("labels", "strategy", "timeout"),
    [
        ({}, "download-then-kill", 60.0),
        ({"io.balena.update.strategy": "kill-then-download"}, "kill-then-download", 60.0),
        ({"io.balena.update.strategy": "hand-over", "io.balena.update.handover-timeout": "1500"},
         "hand-over", 1.5),
        ({"io.balena.update.strategy": "eventually", "io.balena.update.handover-timeout": "soon"},
         "download-then-kill", 60.0),
        (["io.balena.update.strategy=delete-then-download"], "delete-then-download", 60.0),
    ],
)  # fmt: skip
def test_strategy_and_handover_timeout(labels: Any, strategy: str, timeout: float) -> None:
    service = parse_target(doc({"main": {"labels": labels}})).services[0]
    assert (service.strategy, service.handover_timeout) == (strategy, timeout)


def test_labels_devices_read_otherwise_are_warned_of() -> None:
    composition = {
        "services": {
            "main": {"labels": {"io.balena.update.strategy": "eventually"}},
            "side": {"labels": ["io.balena.update.handover-timeout=soon"]},
            "fine": {
                "labels": {"io.balena.update.strategy": "hand-over", "io.balena.update.handover-timeout": "0"}
            },
            "bare": {},
        }
    }
    assert label_warnings(composition) == [
        "service main: io.balena.update.strategy 'eventually' is not one of download-then-kill, "
        "kill-then-download, delete-then-download, hand-over; devices will use download-then-kill",
        "service side: io.balena.update.handover-timeout 'soon' is not a whole number of milliseconds; "
        "devices will wait 60 s",
    ]
    assert label_warnings("not a mapping") == []


def test_names_order_and_the_default_network() -> None:
    target = parse_target(
        doc(
            {
                "web": {"depends_on": {"db": {}}},
                "db": {"network_mode": "host"},
                "cache": {"networks": ["back"]},
            },
            networks={"back": {}},
            volumes={"data": {}},
            lock_override=True,
        )
    )
    assert [s.name for s in target.services] == ["db", "web", "cache"]
    assert target.networks == ("7_back", "7_default")  # web is on the default network, db on the host's
    assert target.volumes == ("7_data",) and target.lock_override and target.short_release == "c" * 12


def test_equal_services_hash_equal_and_a_variable_changes_the_hash() -> None:
    one = parse_target(doc({"main": {"restart": "always"}})).services[0]
    same = parse_target(doc({"main": {"restart": "always"}})).services[0]
    variable = {"main": {"image": IMAGE, "compose": {"restart": "always"}, "environment": {"X": "1"}}}
    changed = parse_target(doc({}) | {"services": variable}).services[0]
    assert one.config_hash == same.config_hash != changed.config_hash


def test_before_the_first_release_nothing_runs() -> None:
    target = parse_target(doc({}) | {"release": None})
    assert (target.release, target.services, target.short_release) == (None, (), "")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc({}) | {"fleet": {"slug": "alice/demo"}}, "fleet.id is missing"),
        (doc({}) | {"services": {"main": {"compose": {}}}}, "services.main has no image"),
        (doc({}) | {"services": ["main"]}, "services is not a mapping"),
    ],
)
def test_a_bad_document_is_the_servers_fault(document: dict, message: str) -> None:
    with pytest.raises(TargetDocumentError, match=message):
        parse_target(document)
