"""The users' HTTP API's refusal statuses (fleetgate.user_api.status_of) as a table of exact outcomes."""

from __future__ import annotations

import pytest
from fleetgate.deploy.devices import DeviceError
from fleetgate.deploy.targets import TargetError
from fleetgate.deploy.variables import VariableError

from fleetgate.fleets import FleetError
from fleetgate.keys import PublicKeyError
from fleetgate.operations.permissions import AccessDenied, NotVisible, check, not_found
from fleetgate.operations.targets import RolloutFailed
from fleetgate.releases import ReleaseError
from fleetgate.tokens import TokenError
from fleetgate.user_api import one_line, status_of
from fleetgate.users import UserError


def _denied(role: str, operation: str, read_only: bool = False) -> AccessDenied:
    with pytest.raises(AccessDenied) as caught:
        check(operation, role, "alice/demo", read_only)
    return caught.value


# The messages as the domain words them (shortened where long), so a reworded message that
# changes its status shows up here.
CASES: list[tuple[Exception, int]] = [
    (not_found("bob/secret"), 404),
    (NotVisible("release abcd not found, or you do not have access to it"), 404),
    (NotVisible("device 12ab not found, or you do not have access to it"), 404),
    (_denied("stranger", "env.set"), 404),
    (_denied("member", "member.add"), 403),
    (_denied("owner", "env.set", read_only=True), 403),
    (AccessDenied("you may only manage your own keys"), 403),
    (TargetError("alice/demo has no target yet; there is nothing to roll back from"), 409),
    (TargetError("release alice/demo#2 is failed; only a successful release can be the target"), 409),
    (RolloutFailed("rollout failed: web-1 did not get healthy"), 409),
    (UserError("no user 'carol'; create it with: fleetgate user add carol"), 404),
    (TokenError("alice has no token 7; see: token list"), 404),
    (ReleaseError("alice/demo has no release #9; see: fleetgate release list alice/demo"), 404),
    (ReleaseError("no release has a hash starting abcd; see: fleetgate release list OWNER/NAME"), 404),
    (ReleaseError("hash prefix abcd matches several releases (a#1, a#2); give more characters"), 400),
    (ReleaseError("unknown release status 'bogus'; use one of: running, success"), 400),
    (VariableError("X is not set for alice/demo; see: fleetgate env list alice/demo"), 404),
    (VariableError("the value of X is over 64 KiB; store large data elsewhere"), 400),
    (DeviceError("no device 12ab; see: fleetgate device list OWNER/NAME"), 404),
    (FleetError("bob is not a member of alice/demo; see: fleetgate fleet show alice/demo"), 404),
    (FleetError("bob is a member of alice/demo already"), 409),
    (FleetError("'x' is not OWNER/NAME; name a fleet like alice/frontend"), 400),
    (PublicKeyError("key SHA256:x is already registered; each key has one user"), 409),
    (TokenError("--expires takes 1 to 3650 days, not 0"), 400),
]


@pytest.mark.parametrize(("error", "status"), CASES, ids=[str(e)[:50] for e, _ in CASES])
def test_status_of_a_refusal(error: Exception, status: int) -> None:
    assert status_of(error) == status


def test_one_line_joins_lines_and_spaces() -> None:
    assert one_line("a\nb\r\n  c\t d ") == "a b c d"
