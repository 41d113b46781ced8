"""The typer application every command registers on, and the consoles people read (`console` on stderr for
messages, `out` on stdout for tables and results)."""

from __future__ import annotations

import re
import sys
from dataclasses import replace

import typer
import typer.core
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

UNWRAPPED = 10_000  # columns of a console that is not a terminal: a path or URL is never broken across lines


class _Console(Console):
    """A rich console that hard-wraps only on a terminal: piped, redirected or captured, every line is printed
    whole, so paths, URLs and ids can be copied (rich's default is 80 columns when it sees no terminal)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return size if self.is_terminal or self._width is not None else ConsoleDimensions(UNWRAPPED, size.height)

    @size.setter
    def size(self, new_size) -> None:
        Console.size.fset(self, new_size)


console = _Console(stderr=True)
out = _Console()


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 row`, `2 rows`, `1,204 replies`: the count and the word in the right number (never "row(s)")."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def _flags_take_no_value() -> None:
    """typer 0.29's rich help prints a flag's Python type (`--json <bool>`) as if it took a value; its plain help
    does not (TyperOption.get_help_record skips flags). Flags and counters show no type, as in click."""
    display_type_rich = typer.core.TyperOption.display_type_rich
    if getattr(display_type_rich, "smsflow_flags", False):
        return

    def flag_aware(self, ctx):
        return None if self.is_flag or self.count else display_type_rich(self, ctx)

    flag_aware.smsflow_flags = True
    typer.core.TyperOption.display_type_rich = flag_aware


_flags_take_no_value()

# `smsflow --help` lists the commands in the order a newcomer uses them, in sections; a command not named here
# (one added through the entry point) comes last in its own section.
PANELS = {
    "Run a campaign, step by step": ("plan", "test-send", "send", "receive", "links", "load", "stats", "report",
                                      "sql"),
    "Manage campaigns and lists": ("console", "campaigns", "lists", "drops"),
    "Try it locally": ("sample", "smsc", "demo", "airflow"),
    "Administration": ("account", "users", "credits", "blacklist", "erase", "purge"),
}
_ORDER = [name for names in PANELS.values() for name in names]
OTHER_PANEL = "Other commands"


class _Group(typer.core.TyperGroup):
    """The root command: its subcommands in newcomer order, each in its section of the help."""

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: _ORDER.index(name) if name in _ORDER else len(_ORDER))

    def format_help(self, ctx, formatter) -> None:
        for name, command in self.commands.items():
            command.rich_help_panel = next((panel for panel, names in PANELS.items() if name in names), OTHER_PANEL)
        super().format_help(ctx, formatter)


def _usage_refusal(error) -> str:
    """A click usage error (unknown command or option, bad value, missing argument) as one line."""
    context = getattr(error, "ctx", None)
    hint = f" (`{context.command_path} --help` says what it takes)" if context is not None else ""
    message = " ".join(error.format_message().split()).replace("Value error, ", "")
    return message.rstrip(".") + hint


class _App(typer.Typer):
    """The command line: every failure is one clear line and an exit code, never a traceback
    (`SMSFLOW_DEBUG=1` adds the traceback for developers)."""

    def __call__(self, *args, **kwargs):
        import os

        from typer._click.exceptions import ClickException
        from typer.exceptions import Abort

        kwargs["standalone_mode"] = False  # click's errors come here, to be told in one line
        try:
            code = typer.main.get_command(self)(*args, **kwargs)
        except (SystemExit, typer.Exit):
            raise
        except ClickException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # the help was printed
                sys.exit(error.exit_code)
            console.print(f"[bold red]Refused[/]: {escape(_usage_refusal(error))}", highlight=False, soft_wrap=True)
            sys.exit(error.exit_code)
        except Abort:
            error = KeyboardInterrupt()
        except BaseException as raised:  # noqa: BLE001 - the one place that turns any failure into a message
            error = raised
        else:
            if code != 130:  # typer turns Ctrl-C into exit code 130 without a word: say what it means
                sys.exit(code if isinstance(code, int) else 0)  # a typer.Exit(code) comes back as its code
            error = KeyboardInterrupt()
        from pipelines.failures import explain

        failure = explain(error)
        if failure.exit_code == 2:
            failure = replace(failure, message=_with_nearest_names(failure.message))
        colour = "yellow" if failure.exit_code in (4, 130) else "red"
        console.print(f"[bold {colour}]{failure.verdict}[/]: {escape(failure.message)}", highlight=False,
                      soft_wrap=True)
        if os.environ.get("SMSFLOW_DEBUG") and error.__traceback__ is not None:
            from rich.traceback import Traceback

            console.print(Traceback.from_exception(type(error), error, error.__traceback__))
        elif failure.exit_code == 1:
            console.print("(set SMSFLOW_DEBUG=1 to see the traceback)", style="dim")
        sys.exit(failure.exit_code)


app = _App(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, cls=_Group,
           rich_markup_mode="markdown", context_settings={"show_default": True},
           help="smsflow: SMS marketing and notification campaigns as data pipelines.")

STORE_HELP = "The account store, a SQLAlchemy URL (default: $SMSFLOW_DB, else SQLite in the bucket: bucket/smsflow.db)."


def store_option():
    """The `--store` option every command on the account store takes (env SMSFLOW_DB)."""
    return typer.Option(None, "--store", envvar="SMSFLOW_DB", help=STORE_HELP, show_envvar=False)


def command_bucket():
    """The bucket's folder on this machine: $SMSFLOW_BUCKET (or ./bucket), an s3:// bucket's local working copy."""
    from pipelines.storage import local_bucket

    return local_bucket()


_opened: list = []  # the account store the command opened, to suggest names from when one is unknown


def open_account_store(url: str | None):
    """The account store of a command (`--store`, $SMSFLOW_DB, or bucket/smsflow.db: with the bucket on S3, in its
    local working copy), migrated on first use."""
    from pipelines.store import open_store

    engine = open_store(url, bucket=None if url else command_bucket())
    _opened[:] = [engine]
    return engine


# The store's refusals of an unknown account or saved list (pipelines.store.accounts / .lists), and its rule id.
_UNKNOWN_ACCOUNT = re.compile(r"^no account '(?P<name>[^']*)' in the store")
_UNKNOWN_LIST = re.compile(r"^no saved list '(?P<name>[^']*)' in account '(?P<account>[^']*)'")
_RULE = re.compile(r"(?= \[[A-Z0-9, -]+\]$)")


def _with_nearest_names(message: str) -> str:
    """An unknown account or saved list refused by the store, with the nearest names it holds (when close)."""
    from pipelines.cli.ids import did_you_mean

    account, saved = _UNKNOWN_ACCOUNT.match(message), _UNKNOWN_LIST.match(message)
    if not _opened or not (account or saved):
        return message
    try:
        if account:
            from pipelines.store.accounts import list_accounts

            known = [settings.id for settings in list_accounts(_opened[0])]
            given = account["name"]
        else:
            from pipelines.store.lists import list_lists

            known = [item.name for item in list_lists(_opened[0], saved["account"])]
            given = saved["name"]
    except Exception:  # noqa: BLE001 - a suggestion is a courtesy: the refusal is told as it is without it
        return message
    suggestion = did_you_mean(given, known).replace(" (", "; ", 1)[:-1]  # "; did you mean 'acme'?"
    return _RULE.sub(lambda _: suggestion, message, count=1) if _RULE.search(message) else message + suggestion


def print_json(data) -> None:
    """`--json`: data on stdout (messages stay on stderr)."""
    import json

    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
