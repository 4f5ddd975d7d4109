"""fleetgate.deploy.api: the device HTTP API the gateway serves (registration, target state, wake-ups)."""
