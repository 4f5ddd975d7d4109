"""Push options (`git push -o …`) and branch rules combined into the build options of one push."""

from __future__ import annotations

from fleetgate.build.plan import BuildOptions

from .refrules import BranchRule

FLAGS = ("nocache", "emulated", "detach", "plain")
NOTE_MAX = 1000


class OptionRefused(ValueError):
    """A push option fleetgate does not know; the message lists the ones it does."""


def build_options(rule: BranchRule, push_options: tuple[str, ...]) -> BuildOptions:
    """The branch's options plus the push options (they combine, which balena's branches cannot)."""
    flags = set(rule.options)
    note = None
    for option in push_options:
        name, sep, value = option.partition("=")
        if name == "note" and sep:
            note = value[:NOTE_MAX]
        elif name == "wait" and value == "devices":
            flags.add("wait=devices")
        elif name in FLAGS and not sep:
            flags.add(name)
        else:
            known = ", ".join((*FLAGS, "note=<text>", "wait=devices"))
            raise OptionRefused(f"unknown push option {option[:80]!r}; known options: {known}")
    return BuildOptions(
        nocache="nocache" in flags,
        emulated="emulated" in flags,
        detach="detach" in flags,
        plain="plain" in flags,
        note=note,
        wait_devices="wait=devices" in flags,
    )
