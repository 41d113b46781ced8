"""Commands on the warehouse: load, report, stats, sql (campaigns are listed by `smsflow campaigns list`, CAMP-4)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from pipelines.cli.app import app, command_bucket, console, plural, store_option
from pipelines.cli.app import out as out_console
from pipelines.cli.ids import resolve_warehouse_campaign
from pipelines.cli.tables import print_stats

DEFAULT_DB = Path("bucket/warehouse.sqlite")  # the bucket's lake (REP-3); a .duckdb path: a single file
DEFAULT_EVENTS = Path("bucket/events")
DB_HELP = "The DuckDB warehouse file."


def _on_s3() -> bool:
    return os.environ.get("SMSFLOW_BUCKET", "").startswith("s3://")


def _db(db: Path) -> Path:
    """The warehouse named: the default, with the bucket on S3, is the lake of its local working copy (its catalog
    there, its data in the bucket's warehouse/, pipelines.lake_data)."""
    return command_bucket() / DEFAULT_DB.name if db == DEFAULT_DB and _on_s3() else db


def _buckets(db: Path) -> list[Path]:
    """The buckets a campaign folder may be in: the warehouse's folder, then $SMSFLOW_BUCKET (or ./bucket; an s3://
    bucket's working copy)."""
    return list(dict.fromkeys((db.parent, command_bucket())))


def _pull_for_load(given: Path, late_events: Path) -> None:
    """With the bucket on S3: the campaign folder named by id, and the shared events folder, brought from S3 into
    the working copy before `load` reads them (issue 13)."""
    from pipelines.events_s3 import root_of
    from pipelines.storage.mirror import pull

    root = root_of(command_bucket()) if _on_s3() else None
    if root is None:
        return
    if len(given.parts) == 1 and not given.is_dir():
        pull(root, f"campaigns/{given}")
    if late_events.resolve() == (root / "events").resolve():
        pull(root, "events")


def _push_written(path: Path) -> None:
    """A file `report` wrote inside the S3 bucket's working copy, sent to S3 (issue 13)."""
    from pipelines.events_s3 import root_of
    from pipelines.storage.mirror import push

    root = root_of(path)
    if root is not None:
        push(root, path.resolve().relative_to(root.resolve()).as_posix())


def _campaign_folder(given: Path, db: Path, store: str | None) -> Path:
    """The campaign folder `load` reads: the folder given, or the folder of the campaign id or Airflow run id given
    (bucket/campaigns/<id>); else refused with the nearest folder names."""
    from pipelines.cli.ids import store_if_any, did_you_mean, store_campaign_id
    from pipelines.layout import CampaignPaths, campaign_id_candidates

    if given.is_dir():
        return given
    names = list(campaign_id_candidates(str(given)))
    if len(given.parts) == 1 and (engine := store_if_any(store)) is not None:
        names.append(store_campaign_id(engine, str(given)) or "")
    known: list[str] = []
    for bucket in _buckets(db):
        for name in filter(None, names):
            if len(Path(name).parts) == 1 and (folder := CampaignPaths.in_bucket(bucket, name).root).is_dir():
                return folder
        campaigns = bucket / "campaigns"
        known += [folder.name for folder in campaigns.iterdir() if folder.is_dir()] if campaigns.is_dir() else []
    raise LookupError(f"no campaign folder {str(given)!r}{did_you_mean(given.name, known)}: give a campaign's folder "
                      f"(bucket/campaigns/<id>), its id or the Airflow run id that ran it [CAMP-4]")


@app.command()
def load(
    campaign_dir: Path = typer.Argument(..., help="A campaign folder (plan/, dispatch/ledger/, events/), or the "
                                                  "campaign's id or Airflow run id (bucket/campaigns/ID)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    campaign_id: str = typer.Option(None, "--id", help="Campaign id in the warehouse (default: the folder's name)."),
    late_events: Path = typer.Option(DEFAULT_EVENTS, "--late-events",
                                     help="The folder `smsflow receive` writes late receipts and replies to."),
    store: str = store_option(),
) -> None:
    """Load a campaign's plan, send ledger and events into the DuckDB warehouse (idempotent); its recipients' STOP
    and START replies apply to the account's own blacklist in the account store (BL-2, PLUS-6)."""
    from pipelines.layout import CampaignPaths, campaign_folder_name
    from pipelines.warehouse import load_dispatch, load_plan

    db = _db(db)
    if late_events == DEFAULT_EVENTS and _on_s3():
        late_events = command_bucket() / "events"
    _pull_for_load(campaign_dir, late_events)
    paths = CampaignPaths(_campaign_folder(campaign_dir, db, store))
    if not paths.summary.is_file():
        raise LookupError(f"no plan in {paths.root} ({paths.summary} is missing): `smsflow plan` writes it [PLUS-2]")
    campaign_id = campaign_folder_name(campaign_id) if campaign_id else paths.campaign
    rows = load_plan(db, campaign_id, paths.plan)
    loaded = load_dispatch(db, campaign_id, paths.ledger, paths.events, shared_events=late_events, store=store)
    clicks = _load_clicks(db, paths, campaign_id, late_events)
    console.print(f"{campaign_id}: {plural(rows, 'planned row')}, {plural(loaded.parts, 'part')}, "
                  f"{plural(loaded.events, 'event')}{clicks} loaded into {db}; {plural(loaded.opt_outs, 'opt-out')} added "
                  f"to the own blacklist [BL-2]", highlight=False, soft_wrap=True)


def _load_clicks(db: Path, paths, campaign_id: str, late_events: Path) -> str:
    """URL-3, URL-4: a tracked campaign's clicks and previews, from the micro-batches of the links service of its
    bucket (the campaign folder's, else the one of --late-events); the words for `load`'s line."""
    from pipelines.links.load import load_campaign_clicks

    if not paths.links.is_file():
        return ""
    folder = Path(paths.root).resolve()
    bucket = folder.parent.parent if folder.parent.name == "campaigns" else Path(late_events).resolve().parent
    return f", {plural(load_campaign_clicks(db, bucket, campaign_id), 'click or preview', 'clicks and previews')}"


def _report_path(db: Path, campaign_id: str, category: str) -> Path:
    """Where `report` writes by default: the campaign's report/ folder when the bucket holding the warehouse has the
    campaign's folder (`bucket/campaigns/<id>/report/`), else the current folder."""
    from pipelines.layout import CampaignPaths

    name = f"{campaign_id}.csv" if category == "all" else f"{campaign_id}-{category}.csv"
    for bucket in _buckets(db):
        paths = CampaignPaths.in_bucket(bucket, campaign_id)
        if paths.root.is_dir():
            return paths.report_dir / name
    return Path(name)


def _category(given: str) -> str:
    """A report category, any case; a mistyped one refused with the nearest names (REP-2)."""
    from pipelines.cli.ids import did_you_mean
    from pipelines.report import CATEGORIES

    if given.lower() in CATEGORIES:
        return given.lower()
    raise LookupError(f"unknown report category {given!r}{did_you_mean(given.lower(), CATEGORIES)}; choose one of "
                      f"{', '.join(CATEGORIES)} [REP-2]")


@app.command()
def report(
    campaign_id: str = typer.Argument(..., help="Campaign id (see `smsflow campaigns list`), or its Airflow run id."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    out: Path = typer.Option(None, "--out", help="CSV file to write (default: ID.csv, or ID-CATEGORY.csv for one "
                                                 "category, in the campaign's report folder bucket/campaigns/ID/"
                                                 "report when there is one, else here)."),
    category: str = typer.Option("all", "--category", help="delivered, not_delivered, pending, invalid, "
                                                         "duplicates, blacklisted, not_allowed, errors, capped, "
                                                         "holdout or all."),
    store: str = store_option(),
) -> None:
    """REP-2: the campaign report as CSV (`;`, UTF-8 with BOM, opens right in Excel); says where it wrote it."""
    from pipelines.report import export_csv

    category = _category(category)
    db = _db(db)
    campaign_id = resolve_warehouse_campaign(db, campaign_id, store)
    path = Path(out or _report_path(db, campaign_id, category))
    rows = export_csv(db, campaign_id, path, category)
    _push_written(path)
    console.print(f"{plural(rows, 'row')} ({category}) written to {path.resolve()}", highlight=False,
                  soft_wrap=True)


@app.command()
def stats(
    campaign_id: str = typer.Argument(..., help="Campaign id (see `smsflow campaigns list`), or the Airflow run id "
                                                "it came from."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON on stdout."),
    store: str = store_option(),
) -> None:
    """REP-1: a campaign's statistics at a glance."""
    from pipelines.report import campaign_stats

    db = _db(db)
    figures = campaign_stats(db, resolve_warehouse_campaign(db, campaign_id, store))
    if as_json:
        sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
        return
    print_stats(figures, out_console)


@app.command()
def sql(
    query: str = typer.Argument(..., help="A DuckDB query, e.g. \"SELECT * FROM campaigns\" (tables and views: "
                                          "sql/README.md)."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help=DB_HELP),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (`,`, a header row) instead of a table."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as a JSON array of objects."),
    limit: int = typer.Option(1_000, "--limit", min=0, help="Rows printed at most (0: all)."),
) -> None:
    """Run a query on the warehouse, read-only, and print its rows: no `duckdb` command needed."""
    import duckdb
    from rich.markup import escape
    from rich.table import Table

    from pipelines.cli.ids import require_warehouse
    from pipelines.warehouse import connect

    db = _db(db)
    require_warehouse(db)

    try:
        with connect(db, read_only=True) as connection:
            frame = connection.sql(query).pl() if query.strip() else None
    except duckdb.Error as error:
        raise ValueError(f"the query is refused: {' '.join(str(error).split())}") from None
    if frame is None:
        raise ValueError("the query is empty")
    if as_csv and as_json:
        raise ValueError("choose one of --csv and --json")
    shown = frame if not limit else frame.head(limit)
    if as_json:
        sys.stdout.write(json.dumps(shown.to_dicts(), ensure_ascii=False, default=str) + "\n")
        return
    if as_csv:
        sys.stdout.write(shown.write_csv())
    else:
        table = Table()
        for column, dtype in shown.schema.items():
            table.add_column(escape(column), overflow="fold", justify="right" if dtype.is_numeric() else "left")
        for row in shown.iter_rows():
            table.add_row(*("" if value is None else escape(str(value)) for value in row))
        out_console.print(table)
    more = frame.height - shown.height
    console.print(plural(frame.height, "row") + (f" ({more:,} not shown: --limit 0 shows all)" if more else ""),
                  highlight=False)
