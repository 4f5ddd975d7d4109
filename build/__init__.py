"""fleetgate.build."""
