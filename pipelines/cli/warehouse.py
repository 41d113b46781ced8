"""Commands on the warehouse: load, report, stats (campaigns are listed by `smsflow campaigns list`, CAMP-4)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from pipelines.cli.app import app, console, store_option
from pipelines.cli.tables import print_stats

DEFAULT_DB = Path("bucket/warehouse.duckdb")


@app.command()
def load(
    campaign_dir: Path = typer.Argument(..., help="A campaign folder: plan/, dispatch/ledger/, events/."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="The DuckDB warehouse file."),
    campaign_id: str = typer.Option(None, "--id", help="Campaign id (default: the folder's name)."),
    late_events: Path = typer.Option(Path("bucket/events"), "--late-events",
                                     help="The folder `smsflow receive` writes late receipts and replies to."),
    store: str = store_option(),
) -> None:
    """Load a campaign's plan, send ledger and events into the DuckDB warehouse (idempotent); its recipients' STOP
    and START replies apply to the account's own blacklist in the account store (BL-2, PLUS-6)."""
    from pipelines.layout import CampaignPaths
    from pipelines.warehouse import load_dispatch, load_plan

    paths = CampaignPaths(campaign_dir)
    campaign_id = campaign_id or paths.campaign
    rows = load_plan(db, campaign_id, paths.plan)
    loaded = load_dispatch(db, campaign_id, paths.ledger, paths.events, shared_events=late_events, store=store)
    console.print(f"{campaign_id}: {rows:,} planned rows, {loaded.parts:,} parts, {loaded.events:,} events → {db}; "
                  f"{loaded.opt_outs:,} opt-out(s) added to the own blacklist [BL-2]")


def _campaign_id(db: Path, given: str) -> str:
    """The warehouse's id for `given`: itself, or the folder name an Airflow run id becomes (CAMP-4)."""
    from pipelines.layout import campaign_folder_name
    from pipelines.report import list_campaigns

    if not db.is_file():
        raise FileNotFoundError(f"no warehouse at {db}: load a campaign into it first (`smsflow load`), or name "
                                f"another one with --db")
    known = set(list_campaigns(db).get_column("campaign_id").to_list())
    for candidate in (given, campaign_folder_name(given)):
        if candidate in known:
            return candidate
    raise LookupError(f"no campaign {given!r} in {db}; `smsflow campaigns list` lists them")


@app.command()
def report(
    campaign_id: str = typer.Argument(..., help="Campaign id (see `smsflow campaigns list`), or its Airflow run id."),
    db: Path = typer.Option(DEFAULT_DB, "--db"),
    out: Path = typer.Option(None, "--out", help="CSV file (default: <campaign>-<category>.csv here)."),
    category: str = typer.Option("all", "--category", help="delivered, not_delivered, pending, invalid, "
                                                         "duplicates, blacklisted, not_allowed, errors, capped, "
                                                         "holdout or all."),
) -> None:
    """REP-2: the campaign report as CSV (`;`, UTF-8 with BOM, opens right in Excel)."""
    from pipelines.report import campaign_report, write_csv

    campaign_id = _campaign_id(db, campaign_id)
    frame = campaign_report(db, campaign_id, category)
    path = write_csv(frame, out or Path(f"{campaign_id}-{category}.csv"))
    console.print(f"{frame.height:,} rows → {path}")


@app.command()
def stats(
    campaign_id: str = typer.Argument(..., help="Campaign id, or the Airflow run id it came from."),
    db: Path = typer.Option(DEFAULT_DB, "--db"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """REP-1: a campaign's statistics at a glance."""
    from pipelines.report import campaign_stats

    figures = campaign_stats(db, _campaign_id(db, campaign_id))
    if as_json:
        sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
        return
    print_stats(figures, Console())
