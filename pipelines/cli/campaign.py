"""Commands that make and send a campaign: sample, send, test-send, receive (`plan` is in cli/plan.py)."""

from __future__ import annotations

import contextlib
import os
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from pipelines.cli.app import app, console, open_account_store, plural, store_option
from pipelines.cli.tables import _progress

SMSC_DEFAULT = "smpp://smsflow:smsflow@127.0.0.1:2775"  # the simulator `smsflow smsc` starts
SMSC_HELP = ("The SMSC: smpp://system_id:password@host:port, settings after ? (binds=2&window=64&tps=500...); "
             "the default is the local simulator (`smsflow smsc`).")


@app.command()
def sample(
    out: Path = typer.Argument(..., help="CSV file to write."),
    rows: int = typer.Option(10_000, "--rows", help="Number of contacts."),
    seed: int = typer.Option(42, "--seed", help="Random seed: the same seed writes the same contacts."),
    encoding: str = typer.Option("utf-8", "--encoding", help="utf-8, utf-8-sig or cp1252."),
) -> None:
    """Write a realistic sample CRM export (accents, mixed number formats, invalid numbers, duplicates)."""
    from pipelines.sample import write_sample_list

    write_sample_list(out, rows, seed, encoding)
    console.print(f"Wrote {plural(rows, 'contact')} to {out}", highlight=False, soft_wrap=True)


class InFlightPolicy(str, Enum):
    """SEND-7: what a resume does with parts in flight when an earlier sender stopped."""

    hold = "hold"
    resend = "resend"


@app.command()
def send(
    plan_dir: Path = typer.Argument(..., help="A plan folder (recipients.parquet, summary.json)."),
    smsc_url: str = typer.Option(SMSC_DEFAULT, "--smsc", help=SMSC_HELP),
    batch: int = typer.Option(None, "--batch", help="Send only this batch (0-based); default: all rows."),
    batch_size: int = typer.Option(10_000, "--batch-size", help="Rows per batch."),
    binds: int = typer.Option(None, "--binds", help="Parallel SMPP binds, each its own process (default: the "
                                                    "--smsc URL's binds=, else 1)."),
    window: int = typer.Option(None, "--window", help="Messages sent and not yet answered, per bind (default: the "
                                                      "--smsc URL's window=, else 64)."),
    tps: float = typer.Option(None, "--tps", help="Parts per second at most, all binds together, as the operator "
                                                  "allows (default: the --smsc URL's tps=, else no limit)."),
    linger: float = typer.Option(None, "--linger", help="Seconds to keep listening for receipts after the last "
                                                        "answer (default: the --smsc URL's linger=, else 0)."),
    in_flight: InFlightPolicy = typer.Option(None, "--in-flight", case_sensitive=False,
                                  help="SEND-7: parts in flight when an earlier sender stopped: hold (at most once) "
                                       "or resend (at least once). Default: the campaign's options.in_flight "
                                       "(hold for marketing, resend for notifications)."),
    release_held: bool = typer.Option(False, "--release-held",
                                      help="SEND-7: send the held parts now (an operator's decision)."),
    store: str = store_option(),
) -> None:
    """Send the sendable rows of a plan over SMPP; a re-run resumes from the send ledger (PLUS-1, SEND-7).
    Who was sent a message is recorded in the account store, for the frequency cap (PLUS-7). A plan in an s3://
    bucket's working copy: its campaign folder is pulled first and pushed back after, however the send ends."""
    from pipelines.dispatch import SmscSettings
    from pipelines.layout import CampaignPaths
    from pipelines.storage import pull_folder, push_folder

    settings = SmscSettings.from_url(smsc_url, binds=binds, window=window, tps=tps, linger=linger)
    campaign = CampaignPaths.of_plan(plan_dir).root
    pull_folder(campaign)
    try:
        _send(plan_dir, settings, batch, batch_size, in_flight, release_held, store)
    finally:
        push_folder(campaign)


def _send(plan_dir: Path, settings, batch, batch_size: int, in_flight, release_held: bool, store) -> None:
    from pipelines.dispatch import require_plan, send_plan, sendable_rows
    from pipelines.layout import SUMMARY_FILE, CampaignPaths
    from pipelines.store.pressure import record_campaign_sends

    if not CampaignPaths.of_plan(plan_dir).summary.is_file():  # the user's to fix: a refusal, not a stop
        raise LookupError(f"no plan at {plan_dir} (no {SUMMARY_FILE} there): `smsflow plan SPEC --out {plan_dir}` "
                          f"writes it [PLUS-2]")
    require_plan(plan_dir)
    total = int(sendable_rows(plan_dir).get_column("PARTS").sum() or 0)
    engine = open_account_store(store)
    if store:  # the send ledger and the sender's locks go where --store says too (SMSFLOW_LEDGER=store, PLUS-1)
        os.environ["SMSFLOW_DB"] = store
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
    smsc_url: str = typer.Option(SMSC_DEFAULT, "--smsc", help=SMSC_HELP),
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
    events_dir: Path = typer.Argument(..., help="Folder for receipt and reply events (Parquet); with --load or "
                                                "--announce, the bucket's shared events folder (BUCKET/events)."),
    smsc_url: str = typer.Option(SMSC_DEFAULT, "--smsc", help=SMSC_HELP),
    seconds: float = typer.Option(None, "--seconds", help="Stop after this long (default: until Ctrl-C)."),
    load: bool = typer.Option(False, "--load", help="Load what arrives into the bucket's warehouse "
                                                    "every few seconds: the campaigns it belongs to, going or "
                                                    "finished, and their reports (PLUS-4)."),
    announce: bool = typer.Option(False, "--announce", help="Announce what arrives to Airflow (the Asset "
                                                            "smsflow://events) for the sms_events DAG to load."),
    airflow: str = typer.Option(None, "--airflow", envvar="AIRFLOW_CONN_AIRFLOW_API",
                                help="With --announce: Airflow's API as http://user:password@host:port (default: "
                                     "$AIRFLOW_CONN_AIRFLOW_API)."),
    store: str = store_option(),
) -> None:
    """Stay bound as a receiver and record late receipts and replies; each second, STOP and START replies apply to
    the own blacklist of the account that last sent to the number (BL-2, PLUS-6). With --load (or --announce, through
    Airflow), they reach the warehouse within a minute, without `smsflow load` (PLUS-4)."""
    from pipelines.layout import SHARED_EVENTS
    from pipelines.dispatch import SmscSettings
    from pipelines.dispatch import receive as receive_events

    if load and announce:
        raise ValueError("choose --load (this process loads) or --announce (Airflow's sms_events DAG loads), not both "
                         "[PLUS-4]")
    batches = None
    if load or announce:
        if events_dir.name != SHARED_EVENTS:
            raise ValueError(f"--load and --announce read the bucket's shared events folder, BUCKET/{SHARED_EVENTS}, "
                             f"not {events_dir} [PLUS-4]")
        if announce and not airflow:
            raise ValueError("--announce needs Airflow's address: --airflow http://user:password@host:port or "
                             "$AIRFLOW_CONN_AIRFLOW_API [PLUS-4]")
    if load or announce:  # the account store of the bucket whose events these are, unless --store or SMSFLOW_DB
        from pipelines.store.engine import store_url

        store = store_url(events_dir.resolve().parent, store)
    engine = open_account_store(store)
    if load or announce:
        batches = _batch_handler(events_dir.resolve().parent, engine, airflow if announce else None)
    with _live_count(seconds) as progress, _stopped_by_sigterm():
        report = receive_events(SmscSettings.from_url(smsc_url), events_dir, seconds, store=engine, progress=progress,
                                batches=batches)
    console.print(f"{_counts(report)} in {report.seconds:,.0f} s, written to {events_dir} [BL-2]", highlight=False,
                  soft_wrap=True)


@contextlib.contextmanager
def _stopped_by_sigterm():
    """A plain `kill` (SIGTERM: `make airflow-stop`, a service manager) stops `receive` as Ctrl-C does: what it
    received is flushed, its opt-outs applied and its last micro-batches loaded or announced."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _batch_handler(bucket: Path, store, airflow: str | None):
    """What `receive --load` (None: load here) or `--announce` (Airflow's API) does with each micro-batch."""
    from pipelines.events import AirflowAnnouncer, LedgerIndex, load_event_batches

    if airflow:
        announcer = AirflowAnnouncer(airflow, bucket)

        def announce(files) -> None:
            if count := announcer(files):
                console.print(f"{plural(count, 'batch', 'batches')} announced to Airflow [PLUS-4]", highlight=False,
                              soft_wrap=True)

        return announce
    from pipelines.events_s3 import synced_loads

    index = LedgerIndex(bucket)

    def load(files) -> None:  # called with no files too: the links service's clicks come on their own (URL-3)
        loaded = load_event_batches(bucket, files, index=index, store=store)
        if files or loaded.clicks:
            console.print(loaded.describe(), highlight=False, soft_wrap=True)

    return synced_loads(bucket, index, load)  # on S3: the campaigns a load reads pulled first, pushed after


def _counts(report) -> str:
    return (f"{plural(report.receipts, 'receipt')}, {plural(report.replies, 'reply', 'replies')}, "
            f"{plural(report.opt_outs, 'number')} opted out")


@contextlib.contextmanager
def _live_count(seconds: float | None, every: float = 5.0):
    """`receive`'s live count of receipts, replies and opt-outs on stderr: a line that updates itself on a
    terminal; elsewhere (a log) one line when the counts change, at most every `every` seconds."""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    until = f"for {seconds:g} s" if seconds is not None else "until Ctrl-C"
    if console.is_terminal:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task(f"Listening {until}")
            yield lambda report: bar.update(task, description=f"Listening {until}: {_counts(report)}")
        return
    last = [float("-inf")]

    def told(report) -> None:
        if time.monotonic() - last[0] >= every:
            last[0] = time.monotonic()
            console.print(f"Listening {until}: {_counts(report)} after {report.seconds:,.0f} s", highlight=False,
                          soft_wrap=True)

    yield told
