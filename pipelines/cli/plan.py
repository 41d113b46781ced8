"""The `plan` command: a campaign's every row checked, personalised and counted against its account."""

from __future__ import annotations

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
