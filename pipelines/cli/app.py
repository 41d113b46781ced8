"""The typer application every command registers on, and the console people read (stderr)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)


class _App(typer.Typer):
    """The command line: every failure is one clear line and an exit code, never a traceback
    (`SMSFLOW_DEBUG=1` adds the traceback for developers)."""

    def __call__(self, *args, **kwargs):
        import os

        try:
            return super().__call__(*args, **kwargs)
        except (SystemExit, typer.Exit):
            raise
        except BaseException as error:  # noqa: BLE001 - the one place that turns any failure into a message
            from pipelines.failures import explain

            failure = explain(error)
            colour = "yellow" if failure.exit_code in (4, 130) else "red"
            console.print(f"[bold {colour}]{failure.verdict}[/]: {escape(failure.message)}", highlight=False,
                          soft_wrap=True)
            if os.environ.get("SMSFLOW_DEBUG"):
                console.print_exception()
            elif failure.exit_code == 1:
                console.print("(set SMSFLOW_DEBUG=1 to see the traceback)", style="dim")
            sys.exit(failure.exit_code)


app = _App(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
           help="smsflow: SMS marketing and notification campaigns as data pipelines.")

STORE_HELP = "The account store, a SQLAlchemy URL (default: $SMSFLOW_DB, else SQLite in the bucket: bucket/smsflow.db)."


def store_option():
    """The `--store` option every command on the account store takes (env SMSFLOW_DB)."""
    return typer.Option(None, "--store", envvar="SMSFLOW_DB", help=STORE_HELP, show_envvar=False)


def open_account_store(url: str | None):
    """The account store of a command (`--store`, $SMSFLOW_DB, or bucket/smsflow.db), migrated on first use."""
    from pipelines.store import open_store

    return open_store(url)


def print_json(data) -> None:
    """`--json`: data on stdout (messages stay on stderr)."""
    import json

    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
