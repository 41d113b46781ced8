"""`smsflow campaigns create|edit|duplicate|cancel|delete|show|list|dashboard`: campaign management (CAMP-3, CAMP-4).

The lifecycle lives in the account store, shared with the Airflow DAG: a draft made here is sent by triggering
`sms_campaign` with its id, and cancelling here cancels its run. Campaigns are seen within one account (ACC-3).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.cli.app import app, console, open_account_store, out, plural, print_json, store_option
from pipelines.cli.ids import resolve_store_campaign

group = typer.Typer(help="Campaigns and their lifecycle: draft → scheduled → running → finished, or cancelled "
                         "(CAMP-3, CAMP-4).", no_args_is_help=True)
app.add_typer(group, name="campaigns")

ACCOUNT_HELP = "The account (ACC-3): its campaigns only."
ID_HELP = "its id (`smsflow campaigns list`), or the Airflow run id that ran it."
FIGURES = ("sent", "delivered", "delivery_rate", "stops")


def _account():
    return typer.Option("default", "--account", help=ACCOUNT_HELP)


def _json():
    return typer.Option(False, "--json", help="Print JSON on stdout instead of tables.")


def _read_spec(path: Path):
    """The spec file, read with the bounded loader and validated (CAMP-2, SEND-1), and its text."""
    from datetime import datetime, timezone

    from pipelines.spec import load_spec

    spec = load_spec(path, now=datetime.now(timezone.utc))
    return spec, path.read_text(encoding="utf-8-sig")


def _trigger_hint(campaign_id: str) -> str:
    return f"airflow dags trigger sms_campaign --conf '{json.dumps({'campaign_id': campaign_id})}'"


def _said(campaign, what: str) -> None:
    console.print(f"{what} [bold]{escape(campaign.id)}[/] « {escape(campaign.name)} » ({campaign.status})",
                  highlight=False, soft_wrap=True)


@group.command()
def create(
    spec: Path = typer.Argument(..., help="Campaign spec (YAML); its lists are read relative to its folder."),
    account: str = typer.Option(None, "--account", help="The account (default: the one the spec names, else "
                                                        "default)."),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """A new draft from a spec (CAMP-3); schedule it by triggering the campaign DAG with its id."""
    from pipelines.store import campaigns

    parsed, text = _read_spec(spec)
    campaign = campaigns.create(open_account_store(store), text, account or parsed.account.id,
                                base=spec.resolve().parent, source=str(spec))
    if as_json:
        print_json(campaign.as_dict())
        return
    _said(campaign, "Draft")
    console.print(f"Send it: {escape(_trigger_hint(campaign.id))}", highlight=False, soft_wrap=True)


@group.command()
def edit(
    campaign_id: str = typer.Argument(..., help="A draft or a scheduled campaign: " + ID_HELP),
    spec: Path = typer.Argument(..., help="The new spec (YAML); it replaces the campaign's."),
    account: str = _account(),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """Replace the spec of a draft or scheduled campaign (CAMP-3)."""
    from pipelines.store import campaigns

    _read_spec(spec)
    engine = open_account_store(store)
    campaign = campaigns.edit(engine, resolve_store_campaign(engine, campaign_id, account),
                              spec.read_text(encoding="utf-8-sig"), account, base=spec.resolve().parent,
                              source=str(spec))
    print_json(campaign.as_dict()) if as_json else _said(campaign, "Edited")


@group.command()
def duplicate(
    campaign_id: str = typer.Argument(..., help="Any campaign: " + ID_HELP),
    account: str = _account(),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """Copy any campaign as a new draft named "NAME (copy)" (CAMP-3)."""
    from pipelines.store import campaigns

    engine = open_account_store(store)
    campaign = campaigns.duplicate(engine, resolve_store_campaign(engine, campaign_id, account), account)
    print_json(campaign.as_dict()) if as_json else _said(campaign, "Draft")


@group.command()
def cancel(
    campaign_id: str = typer.Argument(..., help="A scheduled or running campaign: " + ID_HELP),
    account: str = _account(),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """Cancel a campaign (CAMP-3): a scheduled one never sends; a running one stops before its next batch. Either
    way its run ends cancelled and its unsent credits come back."""
    import getpass

    from pipelines.store import campaigns

    engine = open_account_store(store)
    done = campaigns.cancel(engine, resolve_store_campaign(engine, campaign_id, account), account,
                            by=getpass.getuser())
    if as_json:
        print_json({"outcome": done.outcome, "message": done.message, "campaign": done.campaign.as_dict()})
        return
    console.print(escape(done.message), highlight=False, soft_wrap=True)


@group.command()
def delete(
    campaign_id: str = typer.Argument(..., help="A draft or a finished campaign (CAMP-3): " + ID_HELP),
    account: str = _account(),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """Delete a draft, or a finished campaign from the list (CAMP-3: its messages' history stays until a purge);
    a scheduled or running campaign is cancelled instead."""
    from pipelines.store import campaigns

    engine = open_account_store(store)
    campaign = campaigns.delete(engine, resolve_store_campaign(engine, campaign_id, account), account)
    print_json(campaign.as_dict()) if as_json else _said(campaign, "Deleted")


@group.command()
def show(
    campaign_id: str = typer.Argument(..., help="The campaign: " + ID_HELP),
    account: str = _account(),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """A campaign: its status, run, figures, spec and lifecycle audit (CAMP-3)."""
    from pipelines.store import campaigns

    engine = open_account_store(store)
    shown = campaigns.show(engine, resolve_store_campaign(engine, campaign_id, account), account)
    if as_json:
        print_json(shown)
        return
    overview = Table(title=f"Campaign « {escape(shown['name'])} »", show_header=False)
    overview.add_column(style="bold")
    overview.add_column()
    for label, key in (("Id", "id"), ("Account", "account_id"), ("Type", "type"), ("Status", "status"),
                       ("Send at", "send_at"), ("Run", "run_id"), ("Credits reserved", "credits_reserved"),
                       ("Cancel requested", "cancel_requested_at"), ("Created", "created_at"),
                       ("Updated", "updated_at")):
        if shown[key] not in (None, ""):
            overview.add_row(label, escape(str(shown[key])))
    for name, value in (shown["figures"] or {}).items():
        if name in FIGURES and value is not None:
            overview.add_row(name.replace("_", " ").capitalize(), _figure(value))
    out.print(overview)
    audit = Table(title="Lifecycle (CAMP-3)")
    for column in ("At", "Status", "Detail"):
        audit.add_column(column)
    for event in shown["events"]:
        audit.add_row(event["at"], event["status"], escape(event["detail"]))
    out.print(audit)
    out.print(escape(shown["spec"]), highlight=False)


def _figure(value) -> str:
    return f"{value:.1%}" if isinstance(value, float) else f"{value:,}"


def _table(title: str, rows, figures: bool) -> Table:
    rows = list(rows)
    table = Table(title=title)
    table.add_column("Id", no_wrap=True, min_width=max((len(c.id) for c in rows), default=2))  # copied: never cut
    for column in ("Name", "Type", "Status", "Updated"):
        table.add_column(column)
    if figures:
        for column in ("Sent", "Delivered", "Rate"):
            table.add_column(column, justify="right")
    for campaign in rows:
        cells = [campaign.id, escape(campaign.name), campaign.type, campaign.status,
                 f"{campaign.updated_at:%Y-%m-%d %H:%M}"]
        if figures:
            numbers = campaign.figures or {}
            cells += [_figure(numbers[key]) if numbers.get(key) is not None else "" for key in FIGURES[:3]]
        table.add_row(*cells)
    return table


@group.command(name="list")
def list_command(
    status: str = typer.Option(None, "--status", help="draft, scheduled, running, finished or cancelled."),
    search: str = typer.Option(None, "--search", help="Text to find in the name (any case)."),
    account: str = _account(),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """CAMP-4: the account's campaigns, newest first, searchable by name, filterable by status."""
    from pipelines.store import campaigns

    from pipelines.cli.ids import did_you_mean

    if status is not None and status not in campaigns.STATUSES:
        raise LookupError(f"status {status!r} is not one of {', '.join(campaigns.STATUSES)}"
                          f"{did_you_mean(status, campaigns.STATUSES)} [CAMP-4]")
    found = campaigns.list_campaigns(open_account_store(store), account, status, search)
    if as_json:
        print_json([campaign.as_dict() for campaign in found])
        return
    out.print(_table(f"Campaigns of {escape(account)}", found, figures=True))
    console.print(plural(len(found), "campaign"), highlight=False)


@group.command()
def dashboard(
    account: str = _account(),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """CAMP-4: the 10 latest drafts, and the 10 latest scheduled, running or finished campaigns with their figures."""
    from pipelines.store import campaigns

    board = campaigns.dashboard(open_account_store(store), account)
    if as_json:
        print_json({name: [campaign.as_dict() for campaign in rows] for name, rows in board.items()})
        return
    out.print(_table("Latest drafts", board["drafts"], figures=False))
    out.print(_table("Latest campaigns", board["campaigns"], figures=True))
