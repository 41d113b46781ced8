"""`make demo-direct`: the sample campaign driven by `pipelines` alone (no Airflow): planned, loaded into DuckDB,
tested, sent to the SMSC simulator over SMPP, its receipts and replies turned into statuses and a report."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from pipelines.demo.bucket import DEMO_CAMPAIGN, config_repliers, prepare_bucket, query_command, simulator_config


def run_demo(bucket: Path, rows: int, out: Console) -> Path:
    """The campaign driven directly by `pipelines` (no Airflow): plan, DuckDB, simulator, send, report."""
    from pipelines.account import prepare_account
    from pipelines.cli.tables import print_summary
    from pipelines.layout import CampaignPaths
    from pipelines.plan import plan_file
    from pipelines.spec import load_spec
    from pipelines.store import open_store
    from pipelines.warehouse import in_bucket, load_plan

    bucket = bucket.resolve()
    spec_path, _ = prepare_bucket(bucket, rows, out)
    started = time.perf_counter()
    campaign = f"{DEMO_CAMPAIGN}-{time.strftime('%Y%m%d-%H%M%S')}"  # each run is a new campaign
    # ACC-1/2, BL-1, SEND-5: the plan reads the account's settings, blacklists and credits from the store.
    account = prepare_account(open_store(bucket=bucket), load_spec(spec_path), source=str(spec_path))
    result = plan_file(spec_path, CampaignPaths.in_bucket(bucket, campaign).plan, inputs=account.inputs,
                       spec=account.spec)
    out.print(f"[bold]3.[/] Planned in {time.perf_counter() - started:.2f} s → {result.out_dir}\n")
    print_summary(result.summary, out)
    database = in_bucket(bucket)  # the bucket's lake (REP-3)
    loaded = load_plan(database, campaign, result.out_dir)
    out.print(f"\n[bold]4.[/] Loaded {loaded:,} planned rows into the warehouse (a DuckLake) → {database}")
    send_demo(bucket, result.out_dir, out)
    click_demo(bucket, database, result.out_dir, out)
    report_demo(database, campaign, result.out_dir, out)
    out.print("\nQuery the warehouse (tables plan_recipients, parts, events; views message_status, "
              "part_status):", style="bold")
    out.print(query_command(database, campaign), soft_wrap=True, highlight=False, markup=False)
    return result.out_dir


def click_demo(bucket: Path, database: Path, plan_dir: Path, out: Console) -> None:
    """Step 8b (URL-3, URL-4): `smsflow links serve` on the bucket, a few of the campaign's short links clicked as a
    person and as WhatsApp (the demo's smsf.link links do not resolve on the Internet: the local service is asked
    directly), the click events loaded into the warehouse."""
    from pipelines.demo.links import click_links, load_clicks, start_links, stop_links

    service, url = start_links(bucket, bucket / "links" / "service.log")
    try:
        out.print(f"\n[bold]8b.[/] Short-link service `smsflow links serve` on {url} (log: "
                  f"{bucket / 'links' / 'service.log'}); a few links clicked:", soft_wrap=True, highlight=False)
        answered = click_links(url, plan_dir, out)
    finally:
        stop_links(service)  # its workers close and roll their click segments
    if answered:
        load_clicks(bucket, database, plan_dir.parent.name, answered, out)


def report_demo(database: Path, campaign: str, plan_dir: Path, out: Console) -> None:
    """Step 9: events into DuckDB (STOP replies into the own blacklist, BL-2), the REP-2 CSV report, REP-1 figures."""
    from pipelines.cli.tables import print_stats
    from pipelines.layout import CampaignPaths, read_summary
    from pipelines.report import campaign_stats, export_csv
    from pipelines.warehouse import load_dispatch

    paths = CampaignPaths.of_plan(plan_dir)
    loaded = load_dispatch(database, campaign, paths.ledger, paths.events)
    export_csv(database, campaign, paths.report)
    csv = paths.report
    out.print(f"\n[bold]9.[/] Loaded {loaded.parts:,} parts and {loaded.events:,} events into {database}; "
              f"report → {csv}")
    account = read_summary(plan_dir).campaign.account
    out.print(f"   {loaded.opt_outs} number(s) asked to STOP and joined account {account}'s own blacklist in the "
              f"account store (smsflow blacklist list --account {account})")
    print_stats(campaign_stats(database, campaign), out)


def send_demo(bucket: Path, plan_dir: Path, out: Console) -> None:
    """Steps 5-8: a realistic SMSC simulator, the test send, the real send, receipts and replies."""
    import polars as pl
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from pipelines.campaign import send_test_message
    from pipelines.dispatch import SmscSettings, ledger_state, receive, send_plan
    from pipelines.dlr import read_events, recipient_statuses
    from pipelines.layout import CampaignPaths
    from pipelines.smpp.simulator import start_process
    from pipelines.status import STATUSES

    paths = CampaignPaths.of_plan(plan_dir)
    plan = pl.read_parquet(paths.recipients)
    sendable = plan.filter(pl.col("STATUS_CODE").is_null())
    config = simulator_config(bucket, sendable.get_column("INT_MOBILE").str.strip_prefix("+").head(4).to_list())
    process, port = start_process(config, bucket / "smsc")
    out.print(f"\n[bold]5.[/] SMSC simulator listening on 127.0.0.1:{port} (log: {config.log})")
    ledger_dir, events_dir = paths.ledger, paths.events
    try:
        settings = SmscSettings(port=port, window=64, linger=2.0)
        test = send_test_message(plan_dir, settings)
        if test:
            out.print(f"[bold]6.[/] Test sent to {', '.join(r.number for r in test.results)}: « {test.message} »")
        total = int(sendable.get_column("PARTS").sum() or 0)
        with Progress(TextColumn("[bold]7.[/] Sending"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=out) as bar:
            task = bar.add_task("parts", total=total)
            report = send_plan(plan_dir, settings, progress=lambda count: bar.advance(task, count))
        out.print(f"   {report.accepted:,} parts accepted at {report.parts_per_second:,.0f} parts/s, "
                  f"{report.receipts:,} receipts and {report.replies:,} replies received")
        # Handsets answer after their delivery receipt: stay bound until every delivered replier has answered.
        repliers = {number.lstrip("+") for number in config_repliers(config)}
        delivered = read_events(events_dir).filter(
            (pl.col("kind") == "receipt") & (pl.col("stat") == "DELIVRD")
            & pl.col("handset").str.strip_prefix("+").is_in(list(repliers))).get_column("handset").n_unique()
        waiting = max(0, delivered - report.replies)
        if waiting:
            late = receive(settings, events_dir, seconds=30, until=lambda so_far: so_far.replies >= waiting)
            out.print(f"   {late.replies:,} more replies received after the last receipt")
    finally:
        process.terminate()
        process.wait()
    events = read_events(events_dir)
    statuses = recipient_statuses(sendable, ledger_state(ledger_dir), events)
    table = Table(title="8. Sent messages by status (from receipts and replies)")
    table.add_column("Code", justify="right")
    table.add_column("Status")
    table.add_column("Recipients", justify="right")
    for code, count in statuses.group_by("STATUS_CODE").len().sort("len", descending=True).iter_rows():
        table.add_row(str(code), STATUSES[code].text, f"{count:,}")
    out.print(table)
    out.print(f"   events in {events_dir}, send ledger in {ledger_dir}")
