"""Variables: the operator's runtime configuration of a fleet's containers (DESIGN.md §2.5 deploy).

Set per fleet, per service and per device (and a device's service), like balena's variables and
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

from . import changes, devices

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


def _scoped(
    fleet_id: int, service: str | None, device_uuid: str | None = None
) -> Select[tuple[models.Variable]]:
    return select(models.Variable).where(
        models.Variable.fleet_id == fleet_id,
        models.Variable.service.is_(None) if service is None else models.Variable.service == service,
        models.Variable.device_uuid.is_(None)
        if device_uuid is None
        else models.Variable.device_uuid == device_uuid,
    )


def _slug(session: Session, fleet_id: int) -> str:
    fleet = fleets.fleet_by_id(session, fleet_id)
    return fleet.slug if fleet else "OWNER/NAME"


def check_device(session: Session, fleet_id: int, device_uuid: str | None) -> str | None:
    """The full uuid of the fleet's registered (not removed) device named by `device_uuid` or a prefix."""
    if device_uuid is None:
        return None
    try:
        wanted = devices.uuid_prefix(device_uuid)
    except devices.DeviceError as error:
        raise VariableError(str(error)) from None
    found = session.scalars(
        select(models.Device.uuid)
        .where(
            models.Device.uuid.startswith(wanted),
            models.Device.fleet_id == fleet_id,
            models.Device.revoked_at.is_(None),
        )
        .limit(2)
    ).all()
    slug = _slug(session, fleet_id)
    if len(found) > 1:
        raise VariableError(f"{device_uuid} names more than one device in {slug}; give more of its uuid")
    if not found:
        raise VariableError(f"no device {device_uuid} in {slug}; see: fleetgate device list {slug}")
    return found[0]


def _where(session: Session, fleet_id: int, service: str | None, device_uuid: str | None) -> str:
    where = _slug(session, fleet_id)
    if device_uuid:
        where = f"device {device_uuid} of {where}"
    return f"service {service} of {where}" if service else where


def set_variable(
    session: Session,
    fleet_id: int,
    key: str,
    value: str,
    service: str | None = None,
    secret: bool = False,
    device_uuid: str | None = None,
) -> Variable:
    """Set `key` for the fleet (or one of its services or devices), replacing the value it had there."""
    check_key(key)
    check_service(service)
    check_value(key, value)
    fleets.lock(session, fleet_id)  # two setters of one new key would both insert
    device_uuid = check_device(session, fleet_id, device_uuid)
    row = session.scalar(_scoped(fleet_id, service, device_uuid).where(models.Variable.key == key))
    if row is None:
        row = models.Variable(fleet_id=fleet_id, service=service, device_uuid=device_uuid, key=key)
        session.add(row)
    row.value, row.secret, row.updated_at = value, secret, utcnow()
    session.flush()
    changes.notify(session, fleet_id)  # devices get the new environment in their target at once
    return _variable(row)


def unset_variable(
    session: Session, fleet_id: int, key: str, service: str | None = None, device_uuid: str | None = None
) -> Variable:
    """Remove `key` from the fleet (or a service or device); a VariableError when it is not set."""
    check_service(service)
    device_uuid = device_uuid.lower() if device_uuid else None
    row = session.scalar(_scoped(fleet_id, service, device_uuid).where(models.Variable.key == key))
    if row is None:
        where = _where(session, fleet_id, service, device_uuid)
        raise VariableError(
            f"{key} is not set for {where}; see: fleetgate env list {_slug(session, fleet_id)}"
        )
    removed = _variable(row)
    session.delete(row)
    session.flush()
    changes.notify(session, fleet_id)
    return removed


def list_variables(
    session: Session, fleet_id: int, service: str | None = None, device_uuid: str | None = None
) -> list[Variable]:
    """The fleet's variables by service (fleet-wide first) and key; with `service`, only that service's.

    Without `device_uuid` the fleet's and services' variables; with it, only that device's.
    """
    device_uuid = check_device(session, fleet_id, device_uuid)
    query = select(models.Variable).where(
        models.Variable.fleet_id == fleet_id,
        models.Variable.device_uuid.is_(None)
        if device_uuid is None
        else models.Variable.device_uuid == device_uuid,
    )
    if service is not None:
        query = query.where(models.Variable.service == check_service(service))
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


def effective_by_service(
    session: Session, fleet_id: int, services: list[str], device_uuid: str | None
) -> dict[str, dict[str, str]]:
    """`effective` for each of `services` of one device, read in one query."""
    query = select(models.Variable).where(
        models.Variable.fleet_id == fleet_id,
        models.Variable.device_uuid.is_(None) | (models.Variable.device_uuid == device_uuid),
    )
    found = sorted(map(_variable, session.scalars(query)), key=_rank)
    return {
        service: {v.key: v.value for v in found if v.service is None or v.service == service}
        for service in services
    }
