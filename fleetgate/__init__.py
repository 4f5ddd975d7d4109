"""fleetgate: a self-hosted git-push deployment gateway for fleets of devices and servers."""
