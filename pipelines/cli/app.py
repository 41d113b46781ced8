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
