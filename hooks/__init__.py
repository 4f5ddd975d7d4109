"""fleetgate.hooks."""
