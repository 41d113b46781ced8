"""The `smsflow` command line: thin typer commands over `pipelines`; every failure is one clear line."""

from importlib.metadata import entry_points

from pipelines.cli import (  # noqa: F401 - each module registers its commands
    account, blacklist, campaign, campaigns, credits, drivers, drops, erase, extranet, links, lists, plan, users,
    warehouse,
)
from pipelines.cli.app import app, console
from pipelines.cli.tables import print_stats, print_summary

# Commands from outside the core (the demo drivers) add themselves through an entry point, so the core never
# imports them: `[project.entry-points."smsflow.commands"]` in pyproject.toml.
for _entry in entry_points(group="smsflow.commands"):
    _entry.load()(app)

__all__ = ["app", "console", "print_stats", "print_summary"]
