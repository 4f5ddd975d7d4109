"""`python -m fleetgate.cli`: the `fleetgate` command."""

from . import main

main()
