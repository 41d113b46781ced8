"""The `smsflow` command line: plan a campaign, make sample lists, run the demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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


@app.command()
def plan(
    spec: Path = typer.Argument(..., help="Campaign spec (YAML)."),
    out: Path = typer.Option(..., "--out", help="Folder for recipients.parquet and summary.json."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Plan a campaign: read its lists, check and personalise every row, count parts and credits."""
    from pipelines.lists import ListError
    from pipelines.plan import plan_file
    from pipelines.render import TemplateError
    from pipelines.spec import SpecError

    try:
        with _progress(disable=as_json) as bar:
            tasks: dict[str, int] = {}

            def report(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total or None)
                bar.update(tasks[name], completed=done)

            result = plan_file(spec, out, progress=report)
    except (SpecError, ListError, TemplateError) as error:
        console.print(f"[bold red]Refused[/]: {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(json.dumps(result.summary, ensure_ascii=False, indent=2) + "\n")
    else:
        print_summary(result.summary, Console())
        Console().print(f"\nPlan written to [bold]{result.out_dir}[/] (recipients.parquet, summary.json)")


def _progress(disable: bool, unit: str = "bytes"):
    from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TransferSpeedColumn)

    counter = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), *counter, TimeElapsedColumn(),
                    console=console, disable=disable, transient=False)


def print_summary(summary: dict, out: Console) -> None:
    """SEND-4 figures, NUM-4 countries, MSG-4 empty fields and ENC-6 worst case, in the user's terms."""
    from pipelines.status import status_text

    campaign = summary["campaign"]
    overview = Table(title=f"Campaign « {campaign['name']} » ({campaign['type']})", show_header=False)
    overview.add_column(style="bold")
    overview.add_column()
    overview.add_row("Lists", f"{len(summary['lists'])}: " + ", ".join(
        f"{item['name']} ({item['rows']:,} rows, column {item['mobile_column']!r})" for item in summary["lists"]))
    warnings = [warning for item in summary["lists"] for warning in item.get("warnings", [])]
    if warnings:
        overview.add_row("[yellow]Warnings[/]", escape("\n".join(warnings)))
    overview.add_row("Recipients", f"{summary['rows']:,}")
    overview.add_row("Sendable", f"{summary['sendable']:,}")
    overview.add_row("Invalid numbers", f"{summary['invalid']:,}")
    overview.add_row("Duplicates", f"{summary['duplicates']:,}")
    available = summary.get("credits_available")
    overview.add_row("Credits used", f"{summary['credits']:,}" + (f" of {available:,}" if available is not None else ""))
    overview.add_row("Send date", campaign["send_at"] or "immediately")
    overview.add_row("Sender", campaign["sender"])
    overview.add_row("Tracking", "on" if campaign["tracking"] else "off")
    worst = summary["worst_case"]
    overview.add_row("Longest message", f"{summary['max_length']} characters"
                     + (f", {worst['parts']} SMS ({worst['encoding']})" if "parts" in worst else "")
                     + f" — {worst['from']}")
    out.print(overview)

    statuses = Table(title="Recipients by status")
    statuses.add_column("Code", justify="right")
    statuses.add_column("Status")
    statuses.add_column("Recipients", justify="right")
    for code, count in summary["status_counts"].items():
        statuses.add_row(code, "Sendable" if code == "0" else status_text(int(code)), f"{count:,}")
    out.print(statuses)

    countries = Table(title="Destinations by country")
    countries.add_column("Country")
    countries.add_column("Detected", justify="right")
    countries.add_column("Accepted", justify="right")
    for country, counts in summary["countries"].items():
        countries.add_row(country, f"{counts['detected']:,}", f"{counts['accepted']:,}")
    out.print(countries)

    parts = Table(title="Messages by number of SMS")
    parts.add_column("SMS per message", justify="right")
    parts.add_column("Recipients", justify="right")
    for count, rows in summary["parts"].items():
        parts.add_row(count, f"{rows:,}")
    out.print(parts)

    if summary["empty_fields"]:
        empty = Table(title="Fields with empty values (set a default in `defaults:`)")
        empty.add_column("Field")
        empty.add_column("Empty rows", justify="right")
        empty.add_column("Used in message")
        empty.add_column("Default")
        for name, count in summary["empty_fields"].items():
            empty.add_row(name, f"{count:,}", "yes" if name in summary["fields_used"] else "no",
                          summary["defaults"].get(name, ""))
        out.print(empty)


@app.command()
def sample(
    out: Path = typer.Argument(..., help="CSV file to write."),
    rows: int = typer.Option(10_000, "--rows", help="Number of contacts."),
    seed: int = typer.Option(42, "--seed"),
    encoding: str = typer.Option("utf-8", "--encoding", help="utf-8, utf-8-sig or cp1252."),
) -> None:
    """Write a realistic sample CRM export (accents, mixed number formats, invalid numbers, duplicates)."""
    from pipelines.sample import write_sample_list

    write_sample_list(out, rows, seed, encoding)
    console.print(f"Wrote {rows:,} contacts to {out}")


@app.command()
def demo(
    bucket: Path = typer.Option(Path("bucket"), "--bucket", help="The local bucket folder."),
    rows: int = typer.Option(10_000, "--rows"),
    direct: bool = typer.Option(False, "--direct", help="Drive the campaign from pipelines, without Airflow."),
    port: int = typer.Option(8080, "--port", help="Airflow's port on 127.0.0.1."),
) -> None:
    """The main job on embedded defaults: a sample CRM export in the bucket, a whole campaign run by Airflow
    against the SMSC simulator, approved through the REST API, its statistics, report and DuckDB file."""
    console_out = Console()
    if direct:
        from pipelines.demo import run_demo

        run_demo(bucket, rows, console_out)
        return
    from pipelines.airflow_demo import run_airflow_demo

    run_airflow_demo(bucket, rows, port, console_out)


@app.command()
def airflow(
    bucket: Path = typer.Option(Path("bucket"), "--bucket"),
    port: int = typer.Option(8080, "--port"),
) -> None:
    """Airflow (standalone, SQLite) and the SMSC simulator, left running for the trigger form and approvals."""
    from pipelines.airflow_demo import serve_airflow

    serve_airflow(bucket, port, Console())


@app.command()
def send(
    plan_dir: Path = typer.Argument(..., help="A plan folder (recipients.parquet, summary.json)."),
    smsc_url: str = typer.Option("smpp://smsflow:smsflow@127.0.0.1:2775", "--smsc", help="smpp://user:pass@host:port?..."),
    batch: int = typer.Option(None, "--batch", help="Send only this batch (0-based); default: all rows."),
    batch_size: int = typer.Option(10_000, "--batch-size", help="Rows per batch."),
    binds: int = typer.Option(None, "--binds", help="Parallel binds."),
    window: int = typer.Option(None, "--window", help="submit_sm in flight per bind."),
    tps: float = typer.Option(None, "--tps", help="Parts per second allowed, all binds together."),
    linger: float = typer.Option(None, "--linger", help="Seconds to keep listening for receipts at the end."),
) -> None:
    """Send the sendable rows of a plan over SMPP; a re-run resumes from the send ledger (PLUS-1)."""
    from pipelines.dispatch import DispatchError, DispatchPaused, SmscSettings, WindowClosed, send_plan, sendable_rows

    settings = SmscSettings.from_url(smsc_url, binds=binds, window=window, tps=tps, linger=linger)
    total = int(sendable_rows(plan_dir).get_column("PARTS").sum() or 0)
    try:
        with _progress(disable=False, unit="parts") as bar:
            task = bar.add_task("parts", total=total)
            report = send_plan(plan_dir, settings, batch, batch_size,
                               progress=lambda count: bar.advance(task, count))
    except (DispatchPaused, DispatchError) as error:
        console.print(f"[bold red]Stopped[/]: {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(3) from None
    except WindowClosed as closed:
        console.print(f"[bold yellow]Paused[/]: {escape(str(closed))}; run the same command then to resume",
                      soft_wrap=True)
        raise typer.Exit(4) from None
    console.print(f"{report.accepted:,} parts accepted, {report.refused:,} refused, {report.throttled:,} throttled "
                  f"and retried, {report.skipped:,} already sent (ledger), {report.confirmed_by_receipt:,} confirmed "
                  f"by receipt; {report.parts_per_second:,.0f} parts/s; {report.receipts:,} receipts, "
                  f"{report.replies:,} replies", soft_wrap=True)


@app.command("test-send")
def test_send(
    spec: Path = typer.Argument(..., help="Campaign spec (YAML)."),
    numbers: str = typer.Option(None, "--numbers", help="Test numbers separated by ',' or ';' (default: the spec's)."),
    row: int = typer.Option(None, "--row", help="Row (1-based, across the lists) that personalises the test."),
    smsc_url: str = typer.Option("smpp://smsflow:smsflow@127.0.0.1:2775", "--smsc"),
) -> None:
    """SEND-3: send the personalised message to test numbers before the real send."""
    import tempfile

    import polars as pl

    from pipelines.dispatch import SmscSettings, send_test
    from pipelines.encoding import measure
    from pipelines.plan import plan_campaign
    from pydantic import ValidationError

    from pipelines.spec import Problem, SpecError, TestSend, load_spec

    campaign = load_spec(spec)
    test = campaign.test.model_dump() if campaign.test else {}
    test.update({key: value for key, value in {"numbers": numbers, "row": row}.items() if value is not None})
    if not test.get("numbers"):
        console.print("[bold red]Refused[/]: no test numbers (--numbers or test.numbers in the spec) [SEND-3]")
        raise typer.Exit(2)
    try:
        campaign = campaign.model_copy(update={"test": TestSend.model_validate(test)})
    except ValidationError as error:
        raise SpecError([Problem(field="test." + ".".join(str(part) for part in item["loc"]), value=item.get("input"),
                                 rule="SEND-3", message=item["msg"].removeprefix("Value error, "))
                         for item in error.errors()], "test-send") from None
    with tempfile.TemporaryDirectory() as folder:
        summary = plan_campaign(campaign, spec.resolve().parent, Path(folder) / "plan").summary
        message = summary["test"]["message"]
        if message is None:
            console.print(f"[bold red]Refused[/]: the lists have no row {test.get('row', 1)} [SEND-3]")
            raise typer.Exit(2)
        encoding = measure(pl.Series([message])).item(0, "ENCODING")
        results = send_test(message, encoding, campaign.test.number_list, SmscSettings.from_url(smsc_url),
                            campaign.sender_or_default, Path(folder) / "ledger", Path(folder) / "events")
    console.print(f"Test message ({encoding}): {escape(message)}", soft_wrap=True)
    for result in results:
        verdict = "accepted" if result.status == 0 else f"refused (0x{result.status or 0:02X})"
        console.print(f"  {result.number}: {verdict}" + (f", message id {result.message_id}" if result.message_id
                                                         else ""))


@app.command()
def receive(
    events_dir: Path = typer.Argument(..., help="Folder for receipt and reply events (Parquet)."),
    smsc_url: str = typer.Option("smpp://smsflow:smsflow@127.0.0.1:2775", "--smsc"),
    seconds: float = typer.Option(None, "--seconds", help="Stop after this long (default: until Ctrl-C)."),
) -> None:
    """Stay bound as a receiver and record late receipts and replies."""
    from pipelines.dispatch import SmscSettings, receive as receive_events

    report = receive_events(SmscSettings.from_url(smsc_url), events_dir, seconds)
    console.print(f"{report.receipts:,} receipts, {report.replies:,} replies in {report.seconds:,.0f} s")


DEFAULT_DB = Path("bucket/warehouse.duckdb")


@app.command()
def load(
    campaign_dir: Path = typer.Argument(..., help="A campaign folder: plan/, dispatch/ledger/, events/."),
    db: Path = typer.Option(DEFAULT_DB, "--db", help="The DuckDB warehouse file."),
    campaign_id: str = typer.Option(None, "--id", help="Campaign id (default: the folder's name)."),
    late_events: Path = typer.Option(Path("bucket/events"), "--late-events",
                                     help="The folder `smsflow receive` writes late receipts and replies to."),
) -> None:
    """Load a campaign's plan, send ledger and events into the DuckDB warehouse (idempotent)."""
    from pipelines.dispatch import campaign_dirs
    from pipelines.warehouse import load_dispatch, load_plan

    campaign_id = campaign_id or campaign_dir.name
    rows = load_plan(db, campaign_id, campaign_dir / "plan")
    parts, events = load_dispatch(db, campaign_id, *campaign_dirs(campaign_dir / "plan"), shared_events=late_events)
    console.print(f"{campaign_id}: {rows:,} planned rows, {parts:,} parts, {events:,} events → {db}")


@app.command()
def report(
    campaign_id: str = typer.Argument(..., help="Campaign id (see `smsflow campaigns`)."),
    db: Path = typer.Option(DEFAULT_DB, "--db"),
    out: Path = typer.Option(None, "--out", help="CSV file (default: <campaign>-<category>.csv here)."),
    category: str = typer.Option("all", "--category", help="delivered, not_delivered, pending, invalid, "
                                                         "duplicates, blacklisted, not_allowed, errors or all."),
) -> None:
    """REP-2: the campaign report as CSV (`;`, UTF-8 with BOM, opens right in Excel)."""
    from pipelines.report import campaign_report, write_csv

    frame = campaign_report(db, campaign_id, category)
    path = write_csv(frame, out or Path(f"{campaign_id}-{category}.csv"))
    console.print(f"{frame.height:,} rows → {path}")


@app.command()
def stats(
    campaign_id: str = typer.Argument(...),
    db: Path = typer.Option(DEFAULT_DB, "--db"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """REP-1: a campaign's statistics at a glance."""
    from pipelines.report import campaign_stats

    figures = campaign_stats(db, campaign_id)
    if as_json:
        sys.stdout.write(json.dumps(figures, ensure_ascii=False, indent=2) + "\n")
        return
    print_stats(figures, Console())


def print_stats(figures: dict, out: Console) -> None:
    table = Table(title=f"Campaign {figures['campaign_id']}: {figures['rows']:,} recipients")
    table.add_column("Code", justify="right")
    table.add_column("Status")
    table.add_column("Recipients", justify="right")
    for status in figures["statuses"]:
        table.add_row(str(status["code"]), status["text"], f"{status['recipients']:,}")
    out.print(table)
    rate = figures["delivery_rate"]
    out.print(f"Delivered {figures['delivered']:,} of {figures['sent']:,} sent"
              + (f" ({rate:.1%})" if rate is not None else "")
              + f"; {figures['replies']:,} replies, {figures['stops']:,} STOP; {figures['clicks']:,} clicks")


@app.command()
def campaigns(
    db: Path = typer.Option(DEFAULT_DB, "--db"),
    status: str = typer.Option(None, "--status", help="draft, running or finished."),
    search: str = typer.Option(None, "--search", help="Text to find in the name."),
) -> None:
    """CAMP-4: list campaigns, newest first."""
    from pipelines.report import list_campaigns

    table = Table(title="Campaigns")
    for column in ("Id", "Name", "Type", "Status", "Recipients", "Sendable", "Credits"):
        table.add_column(column)
    for row in list_campaigns(db, status, search).iter_rows(named=True):
        table.add_row(row["campaign_id"], row["name"], row["type"], row["status"], f"{row['rows']:,}",
                      f"{row['sendable']:,}", f"{row['credits']:,}")
    Console().print(table)


@app.command()
def smsc(
    host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="TCP port (default 2775; 0 = any free port)."),
    config: Path = typer.Option(None, "--config", help="YAML or TOML file of simulator settings."),
    log: Path = typer.Option(None, "--log", help="JSON-lines log of every part, message, receipt and reply."),
    users: list[str] = typer.Option(None, "--user", help="system_id:password (repeatable)."),
    id_format: str = typer.Option(None, "--id-format", help="decimal or hex message ids."),
    tps: int = typer.Option(None, "--tps", help="submit_sm per second per bind before ESME_RTHROTTLED."),
    receipt_delay: float = typer.Option(None, "--receipt-delay", help="Seconds before the final receipt."),
    receipts: str = typer.Option(None, "--receipts", help="stored (kept for the next bind, default) or session "
                                                         "(only the submitting session; lost if it dies)."),
    bind_delay: float = typer.Option(None, "--bind-delay", help="Seconds before answering a bind (WAN SMSC)."),
) -> None:
    """Run the SMPP 3.4 SMSC simulator (receipts, replies, throttling; see pipelines/smpp/simulator.py)."""
    from pydantic import ValidationError

    from pipelines.smpp.simulator import SmscConfig, run

    try:
        overrides = {"host": host, "port": port, "log": log, "message_id_format": id_format, "tps_per_bind": tps,
                     "receipt_delay": receipt_delay, "receipts": receipts, "bind_delay": bind_delay,
                     "users": dict(user.split(":", 1) for user in users) if users else None}
        settings = SmscConfig.from_file(config, **overrides) if config else SmscConfig.model_validate(
            {key: value for key, value in overrides.items() if value is not None})
    except (ValueError, OSError) as error:  # field and message only: pydantic's text would echo the passwords
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()) if isinstance(
            error, ValidationError) else str(error)
        console.print(f"[bold red]Refused[/]: {escape(problems)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    run(settings)


if __name__ == "__main__":
    app()
