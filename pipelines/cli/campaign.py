"""Commands that make and send a campaign: plan, sample, send, test-send, receive."""

from __future__ import annotations

from enum import Enum
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.cli.app import app, console, open_account_store, store_option
from pipelines.cli.tables import _progress, print_summary


@app.command()
def plan(
    spec: Path = typer.Argument(..., help="Campaign spec (YAML)."),
    out: Path = typer.Option(..., "--out", help="Folder for recipients.parquet and summary.json."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    store: str = store_option(),
) -> None:
    """Plan a campaign: read its lists, check and personalise every row against its account (settings,
    blacklists, credits, frequency cap: the account store), count parts and credits."""
    from datetime import datetime, timezone

    from pipelines.account import prepare_account
    from pipelines.layout import CampaignPaths
    from pipelines.lists import ListError
    from pipelines.store.lists import resolve_saved_lists
    from pipelines.plan import plan_file
    from pipelines.render import TemplateError
    from pipelines.spec import SpecError, load_spec

    try:
        engine = open_account_store(store)
        account = prepare_account(engine, load_spec(spec, now=datetime.now(timezone.utc)), source=str(spec))
        for note in account.notes:
            console.print(f"[yellow]Note[/]: {escape(note)}", highlight=False, soft_wrap=True)
        # LIST-4: saved lists are written beside the plan folder, in the version planned.
        planned, versions = resolve_saved_lists(engine, account.spec, account.spec.account.id,
                                                CampaignPaths.of_plan(out).root)
        for name, version in versions.items():
            console.print(f"Saved list [bold]{escape(name)}[/]: version {version}", highlight=False)
        with _progress(disable=as_json) as bar:
            tasks: dict[str, int] = {}

            def report(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total or None)
                bar.update(tasks[name], completed=done)

            result = plan_file(spec, out, progress=report, inputs=account.inputs, spec=planned)
    except (SpecError, ListError, TemplateError) as error:
        console.print(f"[bold red]Refused[/]: {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(result.plan_summary.to_json() + "\n")  # the summary.json written
    else:
        print_summary(result.summary, Console())
        Console().print(f"\nPlan written to [bold]{result.out_dir}[/] (recipients.parquet, summary.json)")


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


class InFlightPolicy(str, Enum):
    """SEND-7: what a resume does with parts in flight when an earlier sender stopped."""

    hold = "hold"
    resend = "resend"


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
    in_flight: InFlightPolicy = typer.Option(None, "--in-flight", case_sensitive=False,
                                  help="SEND-7: parts in flight when an earlier sender stopped: hold (at most once) "
                                       "or resend (at least once). Default: the campaign's options.in_flight "
                                       "(hold for marketing, resend for notifications)."),
    release_held: bool = typer.Option(False, "--release-held",
                                      help="SEND-7: send the held parts now (an operator's decision)."),
    store: str = store_option(),
) -> None:
    """Send the sendable rows of a plan over SMPP; a re-run resumes from the send ledger (PLUS-1, SEND-7).
    Who was sent a message is recorded in the account store, for the frequency cap (PLUS-7)."""
    from pipelines.dispatch import SmscSettings, require_plan, send_plan, sendable_rows
    from pipelines.store.pressure import record_campaign_sends

    settings = SmscSettings.from_url(smsc_url, binds=binds, window=window, tps=tps, linger=linger)
    require_plan(plan_dir)
    total = int(sendable_rows(plan_dir).get_column("PARTS").sum() or 0)
    engine = open_account_store(store)
    try:
        with _progress(disable=False, unit="parts") as bar:
            task = bar.add_task("parts", total=total)
            report = send_plan(plan_dir, settings, batch, batch_size, release_held=release_held,
                               in_flight=in_flight.value if in_flight is not None else None,
                               progress=lambda count: bar.advance(task, count))
    finally:  # what the SMSC accepted counts against the cap, even when the send stopped (window, error)
        record_campaign_sends(engine, plan_dir)
    console.print(report.describe(), soft_wrap=True)
    if report.held:
        console.print(f"[bold yellow]{report.held:,} parts held[/]: they were in flight when an earlier sender "
                      f"stopped and may or may not have reached the handset (SEND-7); `smsflow send {plan_dir} "
                      f"--release-held` sends them again", soft_wrap=True)


@app.command("test-send")
def test_send(
    spec: Path = typer.Argument(..., help="Campaign spec (YAML)."),
    numbers: str = typer.Option(None, "--numbers", help="Test numbers separated by ',' or ';' (default: the spec's)."),
    row: int = typer.Option(None, "--row", help="Row (1-based, across the lists) that personalises the test."),
    smsc_url: str = typer.Option("smpp://smsflow:smsflow@127.0.0.1:2775", "--smsc"),
) -> None:
    """SEND-3: send the personalised message to test numbers before the real send."""
    import tempfile

    from pydantic import ValidationError

    from pipelines.campaign import send_test_message
    from pipelines.dispatch import SmscSettings
    from pipelines.layout import CampaignPaths
    from pipelines.plan import plan_campaign
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
    with tempfile.TemporaryDirectory() as folder:  # a test touches no campaign: its plan and ledger are thrown away
        plan_dir = plan_campaign(campaign, spec.resolve().parent, CampaignPaths(Path(folder)).plan).out_dir
        sent = send_test_message(plan_dir, SmscSettings.from_url(smsc_url))
    if sent is None:
        console.print(f"[bold red]Refused[/]: the lists have no row {test.get('row', 1)} [SEND-3]")
        raise typer.Exit(2)
    console.print(f"Test message ({sent.encoding}): {escape(sent.message)}", soft_wrap=True)
    for result in sent.results:
        verdict = "accepted" if result.status == 0 else f"refused (0x{result.status or 0:02X})"
        console.print(f"  {result.number}: {verdict}" + (f", message id {result.message_id}" if result.message_id
                                                         else ""))


@app.command()
def receive(
    events_dir: Path = typer.Argument(..., help="Folder for receipt and reply events (Parquet)."),
    smsc_url: str = typer.Option("smpp://smsflow:smsflow@127.0.0.1:2775", "--smsc"),
    seconds: float = typer.Option(None, "--seconds", help="Stop after this long (default: until Ctrl-C)."),
    store: str = store_option(),
) -> None:
    """Stay bound as a receiver and record late receipts and replies; each second, STOP and START replies apply to
    the own blacklist of the account that last sent to the number (BL-2, PLUS-6)."""
    from pipelines.dispatch import SmscSettings
    from pipelines.dispatch import receive as receive_events

    engine = open_account_store(store)
    report = receive_events(SmscSettings.from_url(smsc_url), events_dir, seconds, store=engine)
    console.print(f"{report.receipts:,} receipts, {report.replies:,} replies in {report.seconds:,.0f} s; "
                  f"{report.opt_outs:,} number(s) opted out [BL-2]")
