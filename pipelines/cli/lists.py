"""`smsflow lists import|show|search|add|remove|delete|list`: saved lists of an account, versioned (LIST-4)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pipelines.cli.app import app, console, open_account_store, out, plural, print_json, store_option

group = typer.Typer(help="Saved lists (LIST-4): import a list file under a name, search it, add or remove a "
                         "recipient (each change a new version); a spec uses one as `lists: [{saved: NAME}]`.",
                    no_args_is_help=True)
app.add_typer(group, name="lists")


def _account():
    return typer.Option("default", "--account", "-a", help="The account the list belongs to (ACC-3).")


def _json(what: str):
    return typer.Option(False, "--json", help=f"Print {what} as JSON.")


def _saved_line(saved) -> str:
    return (f"Saved list [bold]{saved.name}[/] (account {saved.account_id}): version {saved.version}, "
            f"{plural(saved.rows, 'recipient')}, mobile column {saved.mobile_column!r}")


def _done(saved, as_json: bool, message: str) -> None:
    console.print(f"{message} {_saved_line(saved)}.", highlight=False, soft_wrap=True)
    if as_json:
        print_json(saved.as_dict())


def _recipients_table(view, title: str) -> Table:
    mobile = view.version.mobile_column
    others = [column for column in view.version.columns if column != mobile]
    table = Table(title=title)
    for column in ("line", mobile, "E.164", *others):
        table.add_column(column, justify="right" if column == "line" else "left", overflow="fold")
    for row in view.recipients:
        table.add_row(str(row["line"]), row["number"], row["int_mobile"] or "[red]invalid[/]",
                      *[row["fields"].get(column, "") for column in others])
    return table


@group.command("import")
def import_(
    name: str = typer.Argument(..., help="The saved list's name (its REF_LIST in reports)."),
    file: Path = typer.Argument(..., help="A list file smsflow reads: CSV or TXT, ; , tab or |, UTF-8/16 or "
                                          "Windows-1252, a PORTABLE/MOBILE/SMS/GSM column (LIST-1, LIST-2)."),
    account: str = _account(), store: str = store_option(), as_json: bool = _json("the saved list"),
) -> None:
    """Save a list file under NAME; importing again makes a new version whose rows replace the old ones."""
    from pipelines.store.lists import import_list

    saved = import_list(open_account_store(store), account, name, file)
    _done(saved, as_json, "Imported:")


@group.command("show")
def show(
    name: str = typer.Argument(..., help="The saved list."),
    version: int = typer.Option(None, "--version", "-v", min=1, help="A version (default: the latest)."),
    limit: int = typer.Option(20, "--limit", min=0, help="Recipients shown (0: all)."),
    account: str = _account(), store: str = store_option(), as_json: bool = _json("the list and its recipients"),
) -> None:
    """A saved list's first recipients, its count and its versions."""
    from pipelines.store.lists import show as show_list

    view = show_list(open_account_store(store), account, name, version, limit=limit or None)
    if as_json:
        print_json(view.as_dict())
        return
    out.print(_recipients_table(view, f"{name}, version {view.version.version} of {view.saved.version}"))
    more = view.version.rows - len(view.recipients)
    out.print(plural(view.version.rows, "recipient") + (f" ({more:,} not shown: --limit 0 shows all)" if more else ""),
              highlight=False)
    history = Table(title="Versions")
    for column in ("version", "recipients", "change", "at"):
        history.add_column(column)
    for item in view.versions:
        history.add_row(str(item.version), f"{item.rows:,}", item.change, f"{item.at:%Y-%m-%d %H:%M:%S} UTC")
    out.print(history)


@group.command("search")
def search(
    name: str = typer.Argument(..., help="The saved list."),
    text: str = typer.Argument(..., help="A number in any format (06 12 34 56 78, +33612345678, 0033...) or "
                                         "a field value (any case)."),
    version: int = typer.Option(None, "--version", "-v", min=1, help="A version (default: the latest)."),
    account: str = _account(), store: str = store_option(), as_json: bool = _json("the recipients found"),
) -> None:
    """The recipients of a saved list with this number, or with a field containing this text."""
    from pipelines.store.lists import search as search_list

    view = search_list(open_account_store(store), account, name, text, version)
    if as_json:
        print_json({"name": view.saved.name, "version": view.version.version, "text": text,
                    "recipients": view.recipients})
        return
    out.print(_recipients_table(view, f"{name}, version {view.version.version}: {text!r}"))
    console.print(f"{plural(len(view.recipients), 'recipient')} found.")


def _fields(pairs: list[str]) -> dict[str, str]:
    fields = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r}: give a field as NAME=VALUE", param_hint="--field")
        fields[key.strip()] = value
    return fields


@group.command("add")
def add(
    name: str = typer.Argument(..., help="The saved list."),
    number: str = typer.Argument(..., help="The recipient's mobile number, in any format (NUM-1)."),
    field: list[str] = typer.Option([], "--field", "-f", help="A field of the list, NAME=VALUE (repeatable)."),
    account: str = _account(), store: str = store_option(), as_json: bool = _json("the saved list"),
) -> None:
    """Add a recipient: a new version of the list."""
    from pipelines.store.lists import add as add_recipient

    saved = add_recipient(open_account_store(store), account, name, number, _fields(field))
    _done(saved, as_json, f"Added {number}:")


@group.command("remove")
def remove(
    name: str = typer.Argument(..., help="The saved list."),
    number: str = typer.Argument(..., help="The number to remove, in any format (every row of it goes)."),
    account: str = _account(), store: str = store_option(), as_json: bool = _json("the saved list"),
) -> None:
    """Remove a recipient: a new version of the list (older versions keep it)."""
    from pipelines.store.lists import remove as remove_recipient

    saved = remove_recipient(open_account_store(store), account, name, number)
    _done(saved, as_json, f"Removed {number}:")


@group.command("delete")
def delete(
    name: str = typer.Argument(..., help="The saved list."),
    account: str = _account(), store: str = store_option(), as_json: bool = _json("the deleted list"),
) -> None:
    """Delete a saved list and all its versions (campaigns keep the files they were planned from)."""
    from pipelines.store.lists import delete as delete_list

    saved = delete_list(open_account_store(store), account, name)
    _done(saved, as_json, "Deleted:")


@group.command("list")
def list_(account: str = _account(), store: str = store_option(), as_json: bool = _json("the saved lists")) -> None:
    """The account's saved lists."""
    from pipelines.store.lists import list_lists

    lists = list_lists(open_account_store(store), account)
    if as_json:
        print_json([saved.as_dict() for saved in lists])
        return
    table = Table(title=f"Saved lists of account {account}")
    for column in ("name", "version", "recipients", "mobile column", "columns", "updated"):
        table.add_column(column, overflow="fold")
    for saved in lists:
        table.add_row(saved.name, str(saved.version), f"{saved.rows:,}", saved.mobile_column,
                      ", ".join(saved.columns), f"{saved.updated_at:%Y-%m-%d %H:%M} UTC")
    out.print(table)
    if not lists:
        console.print(f"No saved list in account {account} yet: smsflow lists import NAME FILE --account {account}")
