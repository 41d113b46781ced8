"""`smsflow blacklist add|remove|list|import|export|history` (BL-1, BL-2, PLUS-6): the account store's blacklists.

--kind own (the account's), global (the platform's, every account's) or client (the account's client's).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from pipelines.cli.app import app, console, open_account_store, out, plural, print_json, store_option

group = typer.Typer(help="Blacklists and opt-outs: own, global and client (BL-1, BL-2, PLUS-6).",
                    no_args_is_help=True)
app.add_typer(group, name="blacklist")


class Kind(str, Enum):
    own = "own"
    global_ = "global"
    client = "client"


def _kind():
    return typer.Option(Kind.own, "--kind", help="own (the account's), global (every account's) or client.")


def _account():
    return typer.Option("default", "--account", help="The account (its client's blacklist for --kind client).")


def _by():
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return None


@group.command("add")
def add(
    numbers: list[str] = typer.Argument(..., help="Numbers, as written (normalised to E.164)."),
    kind: Kind = _kind(), account: str = _account(), store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Add numbers to a blacklist (audited; a number already listed is left as it is)."""
    from pipelines.store.blacklists import add_numbers

    added = add_numbers(open_account_store(store), kind.value, account, numbers, source="cli", by=_by())
    if as_json:
        print_json({"kind": kind.value, "account": account, "asked": len(numbers), "added": added})
    else:
        console.print(f"{plural(added, 'number')} added to the {kind.value} blacklist of {account} "
                      f"({len(numbers) - added:,} already there or repeated) [BL-1]")


@group.command("remove")
def remove(
    numbers: list[str] = typer.Argument(..., help="Numbers, as written (normalised to E.164)."),
    kind: Kind = _kind(), account: str = _account(), store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Take numbers off a blacklist (audited)."""
    from pipelines.store.blacklists import remove_numbers

    removed = remove_numbers(open_account_store(store), kind.value, account, numbers, by=_by())
    if as_json:
        print_json({"kind": kind.value, "account": account, "asked": len(numbers), "removed": removed})
    else:
        console.print(f"{plural(removed, 'number')} removed from the {kind.value} blacklist of {account} [BL-1]")


@group.command("list")
def list_(
    kind: Kind = _kind(), account: str = _account(), store: str = store_option(),
    search: str = typer.Option(None, "--search", help="Only numbers containing this."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """The numbers of a blacklist, with where each came from (stop, import, cli) and when."""
    from rich.table import Table

    from pipelines.store.blacklists import list_numbers

    listed = list_numbers(open_account_store(store), kind.value, account, search=search)
    if as_json:
        print_json(listed.to_dicts())
        return
    table = Table("Number", "Source", "Campaign", "Added", title=f"{kind.value} blacklist of {account}")
    for number, source, campaign, added in listed.iter_rows():
        table.add_row(number, source, campaign or "", f"{added:%Y-%m-%d %H:%M} UTC")
    out.print(table)
    console.print(plural(listed.height, "number"))


@group.command("import")
def import_(
    file: Path = typer.Argument(..., help="A CSV/TXT list (its mobile column) or one number a line."),
    kind: Kind = _kind(), account: str = _account(), store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Add the numbers of a file (read as lists are: encoding, delimiter, mobile column) to a blacklist."""
    from pipelines.store.blacklists import import_file

    added = import_file(open_account_store(store), kind.value, account, file, by=_by())
    if as_json:
        print_json({"kind": kind.value, "account": account, "file": str(file), "added": added})
    else:
        console.print(f"{plural(added, 'number')} from {file} added to the {kind.value} blacklist of {account} [BL-1]")


@group.command("export")
def export(
    file: Path = typer.Argument(..., help="The file to write: .txt (one number a line) or .csv (`;`, UTF-8 BOM)."),
    kind: Kind = _kind(), account: str = _account(), store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Write a blacklist to a file that `smsflow blacklist import` reads back."""
    from pipelines.store.blacklists import export_file

    written = export_file(open_account_store(store), kind.value, account, file)
    if as_json:
        print_json({"kind": kind.value, "account": account, "file": str(file), "numbers": written})
    else:
        console.print(f"{plural(written, 'number')} of the {kind.value} blacklist of {account} → {file}")


@group.command("history")
def history(
    number: str = typer.Argument(..., help="A number, as written."),
    account: str = typer.Option(None, "--account", help="Only this account's (and the global) changes."),
    store: str = store_option(), as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Every change to a number's opt-outs: STOP and START replies, additions, removals, imports (PLUS-6)."""
    from rich.table import Table

    from pipelines.store.blacklists import history as number_history

    changes = number_history(open_account_store(store), number, account)
    if as_json:
        print_json(changes.to_dicts())
        return
    table = Table("When (UTC)", "Account", "Kind", "Number", "Action", "Campaign", "Text", "By",
                  title=f"Opt-out history of {number}")
    for at, *rest in changes.iter_rows():
        table.add_row(f"{at:%Y-%m-%d %H:%M:%S}", *(str(value) if value is not None else "" for value in rest))
    out.print(table)
