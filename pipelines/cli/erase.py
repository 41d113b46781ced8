"""`smsflow erase NUMBER` and `smsflow purge --older-than 24m` (PLUS-8): a number, or old campaigns' personal
data, erased from the bucket's files, the warehouse and the account store (keyed hashes keep opt-outs holding).
A bucket on S3 (issue 13): its files are pulled into the local working copy, erased there, and pushed back."""

from __future__ import annotations

from pathlib import Path

import typer

from pipelines.cli.app import app, console, open_account_store, out, plural, print_json, store_option


def _bucket_option():
    return typer.Option(None, "--bucket", envvar="SMSFLOW_BUCKET", show_envvar=False,
                        help="The bucket whose files are searched: a folder or s3://bucket/prefix (default: "
                             "$SMSFLOW_BUCKET, else ./bucket).")


def _bucket_folder(bucket: str | None) -> Path:
    """The bucket's folder here: itself, or an s3:// bucket's local working copy."""
    from pipelines.storage import local_bucket, working_root

    return working_root(bucket) if bucket else local_bucket()


def _warehouse_option():
    return typer.Option([], "--db", help="A DuckDB warehouse outside the bucket to erase from too (repeatable; "
                                         "those inside the bucket are always searched).")


@app.command()
def erase(
    number: str = typer.Argument(..., help="The number, written any way (+33612345678, 06 12 34 56 78 ...)."),
    account: str = typer.Option(None, "--account", help="Only this account's rows and campaigns (default: all)."),
    bucket: str = _bucket_option(),
    db: list[Path] = _warehouse_option(),
    by: str = typer.Option(None, "--by", help="Who asked (kept in the audit row)."),
    store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print what was erased as JSON on stdout."),
) -> None:
    """PLUS-8: erase a number from every file, warehouse and store table smsflow wrote (replaced by its keyed
    hash, so an opt-out still holds); the SMSC's own log is the operator's."""
    from pipelines.erase import erase_number

    from pipelines.storage import synced

    engine = open_account_store(store)
    with synced(_bucket_folder(bucket)) as folder:  # on S3: every file of the bucket, pulled then pushed back
        report = erase_number(engine, number, bucket=folder, warehouses=db, account_id=account, by=by)
    if as_json:
        print_json(report.as_dict())
        return
    out.print(f"Erased {number} (now {report.number_hash[:17]}…): {plural(len(report.files), 'file')} rewritten, "
              f"{plural(sum(report.warehouse.values()), 'warehouse row')}, "
              f"{plural(sum(report.store.values()), 'store row')}", highlight=False, soft_wrap=True)
    for path in report.files:
        out.print(f"  {path}", highlight=False)
    if report.skipped:
        console.print(f"[yellow]Not searched[/] (binary files smsflow does not read): {', '.join(report.skipped)}")


@app.command()
def purge(
    older_than: str = typer.Option(None, "--older-than", help="Age such as 24m, 90d, 2y (default: each "
                                                              "account's retention_months)."),
    account: str = typer.Option(None, "--account", help="Only this account's campaigns (default: all)."),
    bucket: str = _bucket_option(),
    db: list[Path] = _warehouse_option(),
    store: str = store_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the purged campaigns as JSON on stdout."),
) -> None:
    """PLUS-8 retention: personal data of campaigns finished or cancelled before the cutoff erased (numbers
    hashed, messages and list fields dropped), their figures kept."""
    from pipelines.erase import purge as purge_campaigns

    from pipelines.bucket import purge_synced

    engine = open_account_store(store)
    with purge_synced(_bucket_folder(bucket)) as folder:
        result = purge_campaigns(engine, bucket=folder, older_than=older_than, warehouses=db, account_id=account,
                                 by="smsflow purge")
    if as_json:
        print_json(result)
        return
    purged = result["campaigns"]
    out.print(f"Purged {plural(len(purged), 'campaign')}" + (": " + ", ".join(c["campaign"] for c in purged)
                                                          if purged else " (none ended before the cutoff)"))
