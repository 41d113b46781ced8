"""`smsflow credits topup|balance|history`: an account's credit ledger in the account store (SEND-5, SEND-8).

Every command first settles the reservations of campaigns that ended without settling (SEND-8's reconciler):
those whose lifecycle in the store is finished or cancelled, and, when the `airflow_api` connection is set
(`AIRFLOW_CONN_AIRFLOW_API=http://user:password@host:8080`, as the DAG's notes use), those whose Airflow run
ended, e.g. marked failed by hand in the UI.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import typer
from rich.table import Table

from pipelines.cli.app import app, console, open_account_store, out, plural, print_json, store_option

group = typer.Typer(help="Credits (SEND-5, SEND-8): top up, balance, history of an account's ledger.",
                    no_args_is_help=True)
app.add_typer(group, name="credits")

ACCOUNT = typer.Option("default", "--account", help="The account.")
JSON = typer.Option(False, "--json", help="Print as JSON.")
AIRFLOW_API_ENV = "AIRFLOW_CONN_AIRFLOW_API"


def _airflow_run_ended() -> Callable[[str], bool] | None:
    """Whether an Airflow run of sms_campaign ended (success or failed), through the REST API; None without it."""
    from urllib.parse import urlsplit

    url = os.environ.get(AIRFLOW_API_ENV)
    if not url:
        return None
    from pipelines.airflow_rest import AirflowApi

    parts = urlsplit(url)
    api = AirflowApi(f"http://{parts.hostname or '127.0.0.1'}:{parts.port or 8080}")
    try:
        api.login(parts.username or "", parts.password or "")
    except (OSError, RuntimeError) as error:
        console.print(f"[yellow]Airflow not asked which runs ended[/]: {error}")
        return None

    def ended(run_id: str) -> bool:
        from urllib.parse import quote

        try:
            status, run = api.call("GET", f"/api/v2/dags/sms_campaign/dagRuns/{quote(run_id, safe='')}")
        except OSError:
            return False
        return status == 200 and isinstance(run, dict) and run.get("state") in ("success", "failed")

    return ended


def _reconcile(engine, account_id: str) -> None:
    """SEND-8: settle what ended without settling; say so."""
    from pipelines.bucket import sent_parts
    from pipelines.store.credits import settle_ended
    from pipelines.storage import local_bucket

    bucket = local_bucket()  # an s3:// bucket's working copy
    run_ended = _airflow_run_ended()

    def ended(held: dict) -> bool:
        try:
            from pipelines.store.campaigns import get

            if get(engine, held["campaign_id"]).status in ("finished", "cancelled"):
                return True
        except (ImportError, LookupError, RuntimeError, ValueError):  # no lifecycle row for it
            pass
        return bool(run_ended and held["run_id"] and run_ended(held["run_id"]))

    settled = settle_ended(engine, ended, lambda campaign: sent_parts(bucket, campaign),
                           account_id=account_id)
    for campaign, back in settled.items():
        console.print(f"Campaign {campaign} had ended without settling its credits: {back:,} given back (SEND-8)")


@group.command("topup")
def topup(
    credits: int = typer.Argument(..., help="Credits to add (the first top-up gives the account a credit limit)."),
    account: str = ACCOUNT,
    reason: str = typer.Option("top-up", "--reason", help="Why (an order number, a gift...)."),
    by: str = typer.Option(None, "--by", help="Who tops up (default: $USER)."),
    store: str = store_option(), as_json: bool = JSON,
) -> None:
    """Add credits to an account (an administrator's act)."""
    from pipelines.store.credits import top_up

    engine = open_account_store(store)
    after = top_up(engine, account, credits, reason, by or os.environ.get("USER"))
    if as_json:
        print_json({"account": account, "added": credits, "balance": after})
        return
    console.print(f"Account [bold]{account}[/]: {credits:,} credits added, balance {after:,}.")


@group.command("balance")
def balance_command(account: str = ACCOUNT, store: str = store_option(), as_json: bool = JSON) -> None:
    """The credits an account can still reserve, and what running campaigns hold."""
    from pipelines.store.credits import balance, unsettled

    engine = open_account_store(store)
    _reconcile(engine, account)
    available = balance(engine, account)
    held = [item for item in unsettled(engine, account) if item["held"]]
    if as_json:
        print_json({"account": account, "limited": available is not None, "balance": available,
                    "held": sum(item["held"] for item in held),
                    "reservations": [{key: item[key] for key in ("campaign_id", "run_id", "held", "reserved_at")}
                                     for item in held]})
        return
    if available is None:
        typer.echo(f"Account {account}: no credit limit (no top-up yet: smsflow credits topup N)")
        return
    typer.echo(f"Account {account}: {available:,} credits available"
               + (f", {sum(i['held'] for i in held):,} held by {plural(len(held), 'campaign')}" if held else ""))


@group.command("history")
def history_command(account: str = ACCOUNT,
                    campaign: str = typer.Option(None, "--campaign", help="Only this campaign's entries."),
                    store: str = store_option(), as_json: bool = JSON) -> None:
    """The account's ledger, oldest first: top-ups, reservations, settlements, with the balance after each."""
    from pipelines.store.credits import history

    engine = open_account_store(store)
    _reconcile(engine, account)
    entries = history(engine, account, campaign)
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"Credits of {account}" + (f", campaign {campaign}" if campaign else ""))
    for column in ("At (UTC)", "Kind", "Change", "Balance", "Campaign", "Reason", "By"):
        table.add_column(column, justify="right" if column in ("Change", "Balance") else "left")
    for entry in entries:
        table.add_row(f"{entry['at']:%Y-%m-%d %H:%M:%S}", entry["kind"], f"{entry['change']:+,}",
                      f"{entry['balance']:,}", entry["campaign_id"] or "", entry["reason"], entry["by"] or "")
    out.print(table)
