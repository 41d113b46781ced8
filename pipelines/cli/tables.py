"""What people read on the terminal: summaries, statistics, progress bars."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.cli.app import console, plural


def _progress(disable: bool, unit: str = "bytes"):
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

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
        f"{item['name']} ({plural(item['rows'], 'row')}, column {item['mobile_column']!r})" for item in summary["lists"]))
    warnings = [warning for item in summary["lists"] for warning in item.get("warnings", [])]
    if warnings:
        overview.add_row("[yellow]Warnings[/]", escape("\n".join(warnings)))
    overview.add_row("Recipients", f"{summary['rows']:,}")
    overview.add_row("Sendable", f"{summary['sendable']:,}")
    overview.add_row("Invalid numbers", f"{summary['invalid']:,}")
    overview.add_row("Duplicates", f"{summary['duplicates']:,}")
    available = summary.get("credits_available")
    overview.add_row("Credits used", f"{summary['credits']:,}" + (f" of {available:,}" if available is not None else ""))
    overview.add_row("Send time", campaign["send_at"] or "immediately")
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


def print_stats(figures: dict, out: Console) -> None:
    table = Table(title=f"Campaign {figures['campaign_id']}: {plural(figures['rows'], 'recipient')}")
    table.add_column("Code", justify="right")
    table.add_column("Status")
    table.add_column("Recipients", justify="right")
    for status in figures["statuses"]:
        table.add_row(str(status["code"]), status["text"], f"{status['recipients']:,}")
    out.print(table)
    rate = figures["delivery_rate"]
    out.print(f"Delivered {figures['delivered']:,} of {figures['sent']:,} sent"
              + (f" ({rate:.1%})" if rate is not None else "")
              + f"; {plural(figures['replies'], 'reply', 'replies')}, {figures['stops']:,} STOP; "
              f"{plural(figures['clicks'], 'click')}", highlight=False)
    if figures.get("clicks") or figures.get("previews"):  # URL-3, URL-4, REP-1
        click_rate = figures.get("click_rate")
        out.print(f"Clicks: {figures['clicks']:,} by {plural(figures.get('unique_clickers', 0), 'recipient')}"
                  + (f" (click rate {click_rate:.1%} of delivered)" if click_rate is not None else "")
                  + f"; {plural(figures.get('previews', 0), 'link preview')} fetched", highlight=False)
    if figures.get("held") or figures.get("held_parts"):
        out.print(f"[yellow]{plural(figures['held'], 'message')} held ({plural(figures.get('held_parts', 0), 'part')})[/]: in flight "
                  f"when the sender stopped, not sent again (SEND-7); `smsflow send <plan> --release-held` sends them")
    if figures.get("resent_parts"):
        out.print(f"{plural(figures['resent_parts'], 'part')} resent (in flight when a sender stopped, SEND-7)")
    if figures.get("capped") or figures.get("holdout"):
        out.print(f"{figures.get('capped', 0):,} not sent for the frequency cap, {figures.get('holdout', 0):,} kept "
                  f"unsent as the holdout group (PLUS-7)")
