"""`smsflow account create|show|set|list`: an account's settings, set by an administrator (ACC-1)."""

from __future__ import annotations

import typer
from rich.table import Table

from pipelines.cli.app import app, console, open_account_store, out, print_json, store_option

group = typer.Typer(help="Accounts and their settings (ACC-1): countries, window, parts, senders, caps, retention.",
                    no_args_is_help=True)
app.add_typer(group, name="account")

_LIST_SETTINGS = ("allowed_countries", "allowed_senders")


def _changes(countries: str | None, senders: str | None, **settings) -> dict:
    """The settings given on the command line (comma-separated lists split; `none` clears a cap)."""
    changes = {name: value for name, value in settings.items() if value is not None}
    for name in ("frequency_cap", "retention_months"):
        if isinstance(changes.get(name), str):
            changes[name] = None if changes[name].lower() in ("none", "off", "") else int(changes[name])
    if isinstance(changes.get("tracking_domain"), str) and changes["tracking_domain"].lower() in ("none", "off"):
        changes["tracking_domain"] = None
    if countries is not None:
        changes["allowed_countries"] = [code for code in countries.replace(";", ",").split(",") if code.strip()]
    if senders is not None:
        changes["allowed_senders"] = [name for name in senders.replace(";", ",").split(",") if name.strip()]
    return changes


def _options():
    return {
        "countries": typer.Option(None, "--countries", help="Allowed destination countries, e.g. FR,BE,RE (NUM-2)."),
        "senders": typer.Option(None, "--senders", help="Allowed senders, comma-separated; empty: any (MSG-1)."),
        "window": typer.Option(None, "--window", help="Send window: seed, charter-2024 or charter-2026 (SEND-2)."),
        "max_parts": typer.Option(None, "--max-parts", help="Maximum parts per message, 1-6 (ENC-5)."),
        "frequency_cap": typer.Option(None, "--frequency-cap",
                                      help="Marketing messages per number per window of hours; none: no cap (PLUS-7)."),
        "frequency_hours": typer.Option(None, "--frequency-hours", help="The cap's rolling window in hours (24)."),
        "retention_months": typer.Option(None, "--retention-months",
                                         help="Months personal data is kept after a campaign; none: kept (PLUS-8)."),
        "client": typer.Option(None, "--client", help="The account's client, whose blacklist applies (BL-1)."),
        "tracking_domain": typer.Option(None, "--tracking-domain",
                                        help="Its short links' domain, at most 10 characters (URL-1, URL-5); "
                                             "none: the platform's."),
    }


_O = _options()


def _show(settings, as_json: bool) -> None:
    if as_json:
        print_json(settings.as_dict())
        return
    table = Table(title=f"Account {settings.id}", show_header=False)
    for name, value in settings.as_dict().items():
        if name in _LIST_SETTINGS:
            value = ", ".join(value) or ("any" if name == "allowed_senders" else "none")
        elif name == "credit_limited":
            name, value = "credits", "limited: see smsflow credits balance" if value else "no limit (no top-up yet)"
        table.add_row(name.replace("_", " "), "none" if value is None else str(value))
    out.print(table)


@group.command("create")
def create(
    account_id: str = typer.Argument(..., help="The new account's id."),
    countries: str = _O["countries"], senders: str = _O["senders"], window: str = _O["window"],
    max_parts: int = _O["max_parts"], frequency_cap: str = _O["frequency_cap"],
    frequency_hours: int = _O["frequency_hours"], retention_months: str = _O["retention_months"],
    client: str = _O["client"], tracking_domain: str = _O["tracking_domain"], store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the account as JSON."),
) -> None:
    """Create an account (defaults: France only, seed window, 6 parts, no cap, no credit limit until a top-up)."""
    from pipelines.store import create_account

    settings = create_account(open_account_store(store), account_id, **_changes(
        countries, senders, send_window=window, max_parts=max_parts, frequency_cap=frequency_cap,
        frequency_hours=frequency_hours, retention_months=retention_months, client=client,
        tracking_domain=tracking_domain))
    console.print(f"Account [bold]{settings.id}[/] created.")
    _show(settings, as_json)


@group.command("set")
def set_(
    account_id: str = typer.Argument("default", help="The account to change."),
    countries: str = _O["countries"], senders: str = _O["senders"], window: str = _O["window"],
    max_parts: int = _O["max_parts"], frequency_cap: str = _O["frequency_cap"],
    frequency_hours: int = _O["frequency_hours"], retention_months: str = _O["retention_months"],
    client: str = _O["client"], tracking_domain: str = _O["tracking_domain"], store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the account as JSON."),
) -> None:
    """Change some of an account's settings (only those given)."""
    from pipelines.store import set_account

    settings = set_account(open_account_store(store), account_id, **_changes(
        countries, senders, send_window=window, max_parts=max_parts, frequency_cap=frequency_cap,
        frequency_hours=frequency_hours, retention_months=retention_months, client=client,
        tracking_domain=tracking_domain))
    console.print(f"Account [bold]{settings.id}[/] updated.")
    _show(settings, as_json)


@group.command("show")
def show(
    account_id: str = typer.Argument("default", help="The account."),
    store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the account as JSON."),
) -> None:
    """An account's settings."""
    from pipelines.store import get_account

    _show(get_account(open_account_store(store), account_id), as_json)


@group.command("list")
def list_(store: str = store_option(),
          as_json: bool = typer.Option(False, "--json", help="Print the accounts as JSON.")) -> None:
    """Every account in the store."""
    from pipelines.store import list_accounts

    accounts = list_accounts(open_account_store(store))
    if as_json:
        print_json([settings.as_dict() for settings in accounts])
        return
    table = Table("account", "countries", "window", "max parts", "senders", "frequency cap", "retention")
    for settings in accounts:
        cap = f"{settings.frequency_cap} / {settings.frequency_hours} h" if settings.frequency_cap else "none"
        table.add_row(settings.id, ", ".join(settings.allowed_countries), settings.send_window,
                      str(settings.max_parts), ", ".join(settings.allowed_senders) or "any", cap,
                      f"{settings.retention_months} months" if settings.retention_months else "kept")
    out.print(table)
