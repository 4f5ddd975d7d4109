"""fleetgate.deploy."""
