"""fleetgate.deploy.agent: what runs on a device (`fleetgate agent`): plan, execute on Docker, report."""
