"""fleetgate.deploy.servers: rollouts of releases to a fleet's servers over SSH, kamal style."""
