"""`fleetgate serve` with the branch-rules-only pipeline: gitd's tests exercise git, not Docker."""

from fleetgate.hooks.default import accept_deploy_branches

from fleetgate import home, serve, settings
from fleetgate.cli import cli
from fleetgate.cli.ssh import command_runner
from fleetgate.db import Database

if __name__ == "__main__":
    config = settings.load()
    home.create(config.home)  # as `fleetgate serve` makes it
    database = Database(config.database_url)
    database.migrate()
    serve.run(
        config, database, pipeline=accept_deploy_branches, commands=command_runner(cli, config, database)
    )
