"""Where a release builds: native builder, or qemu on an x86_64 one (DESIGN.md §2.4, §8)."""

from __future__ import annotations

import pytest
from fleetgate.build.plan import Builder, place

from fleetgate.device_types import device_type

X86 = Builder("x86", "unix:///x86.sock", frozenset({"amd64"}))
ARM = Builder("arm", "ssh://pi", frozenset({"armv7hf", "aarch64"}))


@pytest.mark.parametrize(
    ("slug", "builders", "emulated", "expected"),
    [
        ("generic-amd64", (X86,), False, ("x86", "linux/amd64", False)),
        ("raspberrypi3", (X86,), False, ("x86", "linux/arm/v7", True)),
        ("raspberrypi3", (X86, ARM), False, ("arm", "linux/arm/v7", False)),
        ("raspberrypi3", (X86, ARM), True, ("x86", "linux/arm/v7", True)),
        ("raspberrypi4-64", (ARM, X86), False, ("arm", "linux/arm64", False)),
        ("raspberry-pi", (X86, ARM), False, ("x86", "linux/arm/v6", True)),  # armv5e/rpi: always emulated
        ("qemux86", (X86,), False, ("x86", "linux/386", True)),  # i386: always emulated
        ("raspberrypi3", (ARM,), True, ("arm", "linux/arm/v7", True)),  # no x86 builder: the first one
    ],
)
def test_placement(
    slug: str, builders: tuple[Builder, ...], emulated: bool, expected: tuple[str, str, bool]
) -> None:
    placed = place(device_type(slug), builders, emulated)
    assert (placed.builder.name, placed.platform, placed.emulated) == expected
