"""Variables: the operator's runtime configuration of a fleet's containers (DESIGN.md §2.5 deploy).

Set per fleet, per service and (with the devices work) per device, like balena's variables and
`dokku config:set`; never taken from the pushed repository. The more specific scope wins.
Secret values are stored as they are, like every other value: keeping them encrypted needs key
management that this step does not have. They are only never printed (`Variable.shown`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from fleetgate import fleets, models
from fleetgate.models import utcnow

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
RESERVED = ("BALENA_", "RESIN_")  # set by the agent in every container; balena refuses them too
MAX_VALUE = 64 * 1024  # bytes of UTF-8
MASK = "***"


class VariableError(ValueError):
    """A variable was refused or not found; the message says what to do."""


@dataclass(frozen=True)
class Variable:
    """One variable; `service` and `device_uuid` None mean it applies to all of them."""

    key: str
    value: str = field(repr=False)
    service: str | None
    device_uuid: str | None
    secret: bool

    @property
    def shown(self) -> str:
        """The value as it may be printed: `***` for a secret."""
        return MASK if self.secret else self.value


def check_key(key: str) -> str:
    """`key` if it is a POSIX environment variable name that is not reserved."""
    if not KEY.fullmatch(key):
        raise VariableError(
            f"invalid variable name {key!r}: use letters, digits and '_', not starting with a digit"
        )
    if key.upper().startswith(RESERVED):
        raise VariableError(f"{key} is reserved: names starting BALENA_ or RESIN_ are set by fleetgate")
    return key


def check_service(service: str | None) -> str | None:
    """`service` if it is a compose service name (or None for every service)."""
    if service is not None and not SERVICE.fullmatch(service):
        raise VariableError(
            f"invalid service name {service!r}: use the name from docker-compose.yml "
            "(letters, digits, '.', '_', '-')"
        )
    return service


def check_value(key: str, value: str) -> str:
    """`value` if a container's environment can hold it."""
    if "\x00" in value:
        raise VariableError(f"the value of {key} contains a NUL character, which no environment can hold")
    if len(value.encode()) > MAX_VALUE:
        raise VariableError(f"the value of {key} is over {MAX_VALUE // 1024} KiB; store large data elsewhere")
    return value


def _variable(row: models.Variable) -> Variable:
    return Variable(row.key, row.value, row.service, row.device_uuid, row.secret)


def _scoped(fleet_id: int, service: str | None) -> Select[tuple[models.Variable]]:
    # Device-scoped rows arrive with the devices work; until then only device_uuid IS NULL exists.
    return select(models.Variable).where(
        models.Variable.fleet_id == fleet_id,
        models.Variable.service.is_(None) if service is None else models.Variable.service == service,
        models.Variable.device_uuid.is_(None),
    )


def set_variable(
    session: Session, fleet_id: int, key: str, value: str, service: str | None = None, secret: bool = False
) -> Variable:
    """Set `key` for the fleet (or one of its services), replacing the value it had there."""
    check_key(key)
    check_service(service)
    check_value(key, value)
    fleets.lock(session, fleet_id)  # two setters of one new key would both insert
    row = session.scalar(_scoped(fleet_id, service).where(models.Variable.key == key))
    if row is None:
        row = models.Variable(fleet_id=fleet_id, service=service, device_uuid=None, key=key)
        session.add(row)
    row.value, row.secret, row.updated_at = value, secret, utcnow()
    session.flush()
    return _variable(row)


def unset_variable(session: Session, fleet_id: int, key: str, service: str | None = None) -> Variable:
    """Remove `key` from the fleet (or one of its services); a VariableError when it is not set."""
    check_service(service)
    row = session.scalar(_scoped(fleet_id, service).where(models.Variable.key == key))
    if row is None:
        fleet = fleets.fleet_by_id(session, fleet_id)
        slug = fleet.slug if fleet else "OWNER/NAME"
        where = f"service {service} of {slug}" if service else slug
        raise VariableError(f"{key} is not set for {where}; see: fleetgate env list {slug}")
    removed = _variable(row)
    session.delete(row)
    session.flush()
    return removed


def list_variables(session: Session, fleet_id: int, service: str | None = None) -> list[Variable]:
    """The fleet's variables by service (fleet-wide first) and key; with `service`, only that service's."""
    if service is None:
        query = select(models.Variable).where(
            models.Variable.fleet_id == fleet_id, models.Variable.device_uuid.is_(None)
        )
    else:
        query = _scoped(fleet_id, check_service(service))
    rows = session.scalars(query)
    return sorted(map(_variable, rows), key=lambda v: (v.service is not None, v.service or "", v.key))


def _rank(variable: Variable) -> tuple[bool, bool]:
    # The resolution order, least specific first: fleet, service, device, device and service.
    return (variable.device_uuid is not None, variable.service is not None)


def effective(
    session: Session, fleet_id: int, service: str, device_uuid: str | None = None
) -> dict[str, str]:
    """The environment one service gets: a device's value beats a service's beats the fleet's."""
    query = select(models.Variable).where(
        models.Variable.fleet_id == fleet_id,
        models.Variable.service.is_(None) | (models.Variable.service == service),
        models.Variable.device_uuid.is_(None) | (models.Variable.device_uuid == device_uuid),
    )
    found = sorted(map(_variable, session.scalars(query)), key=_rank)
    return {variable.key: variable.value for variable in found}
