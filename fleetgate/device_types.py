"""The device-type table: slug, name and CPU arch, as data (DESIGN.md §3, §6.4)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceType:
    """A kind of device a fleet is made of; `slug` is balena's machine name."""

    slug: str
    name: str
    arch: str


DEVICE_TYPES: tuple[DeviceType, ...] = (
    DeviceType("raspberry-pi", "Raspberry Pi (v1 / Zero / Zero W)", "rpi"),
    DeviceType("raspberrypi3", "Raspberry Pi 3", "armv7hf"),
    DeviceType("raspberrypi4-64", "Raspberry Pi 4 (64-bit)", "aarch64"),
    DeviceType("beaglebone-black", "BeagleBone Black", "armv7hf"),
    DeviceType("intel-nuc", "Intel NUC", "amd64"),
    DeviceType("generic-amd64", "Generic x86_64", "amd64"),
    DeviceType("generic-aarch64", "Generic AARCH64 (ARMv8)", "aarch64"),
    DeviceType("qemux86", "QEMU X86 32bit", "i386"),
)

# balena arch -> the OCI platform Docker builds and runs it as.
PLATFORMS: dict[str, str] = {
    "amd64": "linux/amd64",
    "i386": "linux/386",
    "aarch64": "linux/arm64",
    "armv7hf": "linux/arm/v7",
    "rpi": "linux/arm/v6",
}

_BY_SLUG = {d.slug: d for d in DEVICE_TYPES}


class UnknownDeviceType(LookupError):
    """The user named a device type that is not in the table."""


def device_type(slug: str) -> DeviceType:
    """Return the device type with this slug, or say which slugs exist."""
    try:
        return _BY_SLUG[slug]
    except KeyError:
        known = ", ".join(d.slug for d in DEVICE_TYPES)
        raise UnknownDeviceType(f"unknown device type {slug!r}; choose one of: {known}") from None
