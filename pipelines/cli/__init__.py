"""The `smsflow` command line: thin typer commands over `pipelines`; every failure is one clear line."""

from pipelines.cli import campaign, warehouse, drivers  # noqa: F401 - each module registers its commands
from pipelines.cli.app import app, console
from pipelines.cli.tables import print_stats, print_summary

__all__ = ["app", "console", "print_stats", "print_summary"]
