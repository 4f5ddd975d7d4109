"""fleetgate.gitd."""
