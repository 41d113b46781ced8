"""The `plan` command: a campaign's every row checked, personalised and counted against its account, then held to
its data contract as the Airflow run holds it (PLUS-3)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from pipelines.cli.app import app, console, open_account_store, out as stdout, plural, store_option
from pipelines.cli.tables import _progress, print_summary


def default_plan_dir(spec) -> Path:
    """`<bucket>/campaigns/<spec file's stem>/plan`: the spec's bucket (pipelines.spec.spec_bucket) and the
    layout of a campaign folder, so later commands (send, stats) find the plan where a campaign's plan is. A spec
    in S3 (`s3://…/specs/x.yaml`) is planned into $SMSFLOW_BUCKET (else ./bucket): with that bucket on S3, into its
    local working copy, pushed to S3 when the plan is written (issue 13)."""
    from pathlib import PurePosixPath

    from pipelines.layout import CampaignPaths
    from pipelines.spec import spec_bucket
    from pipelines.storage import is_url, local_bucket

    if is_url(spec):
        return CampaignPaths.in_bucket(local_bucket(), PurePosixPath(spec.key).stem).plan
    return CampaignPaths.in_bucket(spec_bucket(spec), spec.stem).plan


@app.command()
def plan(
    spec_name: str = typer.Argument(..., metavar="SPEC", help="Campaign spec (YAML): a file, or s3://bucket/key."),
    out: Path = typer.Option(None, "--out", show_default=False,
                             help="Folder for the plan: recipients.parquet, summary.json and quarantine.csv "
                                  "(default: BUCKET/campaigns/NAME/plan, BUCKET the spec's bucket, NAME the "
                                  "spec file's name without .yaml)."),
    no_contracts: bool = typer.Option(False, "--no-contracts",
                                      help="Skip the data contract the Airflow run checks (the share of invalid "
                                           "numbers under contracts.max_invalid_share, and the rows to be sent "
                                           "well formed) [PLUS-3]."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    store: str = store_option(),
) -> None:
    """Plan a campaign: read its lists, check and personalise every row against its account (settings,
    blacklists, credits, frequency cap: the account store), count parts and credits, then check the plan against
    its data contract as the Airflow run does. A spec is refused with every problem of it and its files at once."""
    from datetime import datetime, timezone

    from pipelines.account import prepare_account
    from pipelines.layout import CampaignPaths
    from pipelines.lists import ListError
    from pipelines.plan import plan_file
    from pipelines.render import TemplateError
    from pipelines.spec import SpecError, load_spec
    from pipelines.storage import location
    from pipelines.store.lists import resolve_saved_lists

    spec = location(spec_name)  # a typer Path would fold s3:// into s3:/
    out = out if out is not None else default_plan_dir(spec)
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
    verdict, broken, quarantined = _contract(result.out_dir, planned.contracts.max_invalid_share, no_contracts)
    _push_campaign(result.out_dir)
    window = _window_line(planned, result)
    if as_json:
        sys.stdout.write(result.plan_summary.to_json() + "\n")  # the summary.json written
        console.print(window, highlight=False, soft_wrap=True)
        if verdict:
            console.print(verdict, highlight=False, soft_wrap=True)
    else:
        print_summary(result.summary, stdout)
        stdout.print(f"\n{escape(window)}", highlight=False, soft_wrap=True)
        if verdict:
            stdout.print(escape(verdict), highlight=False, soft_wrap=True)
        stdout.print(f"Plan written to [bold]{escape(str(result.out_dir))}[/] (recipients.parquet, summary.json; "
                     f"quarantine.csv: {plural(quarantined, 'row')} that cannot be sent)", highlight=False,
                     soft_wrap=True)
    if broken is not None:
        console.print(f"[bold red]Refused[/]: {escape(str(broken))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


def _push_campaign(plan_dir: Path) -> None:
    """A plan written into an s3:// bucket's working copy: its campaign folder sent to S3 (issue 13)."""
    from pipelines.layout import CampaignPaths
    from pipelines.storage import push_folder, remote_of

    folder = CampaignPaths.of_plan(plan_dir).root
    remote = remote_of(folder)
    if remote is None:
        return
    pushed = push_folder(folder)
    console.print(f"Campaign folder sent to {remote} ({plural(pushed.copied, 'file')})", highlight=False,
                  soft_wrap=True)


def _contract(plan_dir: Path, max_invalid_share: float, skip: bool):
    """PLUS-3: the DAG's contract on the plan (quarantine.csv written either way): its one-line verdict when kept,
    the ContractError when broken, and how many rows are in quarantine."""
    from pipelines.contracts import ContractError, check_plan, write_quarantine

    if skip:
        return None, None, write_quarantine(plan_dir)[1]
    try:
        kept = check_plan(plan_dir, max_invalid_share)
    except ContractError as error:
        return None, error, error.quarantined
    return kept.verdict, None, kept.quarantined


def _window_line(spec, result) -> str:
    """SEND-2: when the campaign may be sent, and when its window opens next (as the Airflow run waits)."""
    from datetime import datetime, timezone

    from pipelines.campaign import send_target
    from pipelines.plan.summary import send_window_line

    now = datetime.now(timezone.utc)
    return send_window_line(result.plan_summary, send_target(spec, now, result.out_dir), now)
