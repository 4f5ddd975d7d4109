"""The `fleetgate` command (DESIGN.md §3): one module per noun over one shared context (`context.App`).

Each command parses its arguments, calls the application layer (`fleetgate.operations`) as the App's
actor, and renders what it returns; `ssh` runs the same commands for users over the SSH edge.
"""

from .root import cli, main

__all__ = ["cli", "main"]
