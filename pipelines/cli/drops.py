"""`smsflow drops add|list|remove|check|watch-s3`: which prefix of the bucket starts which campaign (DROP-1, issue
13), and on S3 the SQS queue that announces the drops.

A CRM export dropped under a rule's prefix (with its `.done` marker beside it; on S3 the object alone) is checked,
then starts one `sms_campaign` run from the rule's template with that file as its list (the `sms_drops` DAG;
`pipelines.drops`).
"""

from __future__ import annotations

import os

import typer
from rich.markup import escape
from rich.table import Table

from pipelines.cli.app import app, console, open_account_store, out, print_json, store_option

group = typer.Typer(help="Drop rules (DROP-1): a CRM export dropped under a prefix of the bucket starts a campaign "
                         "from a template.", no_args_is_help=True)
app.add_typer(group, name="drops")


def _json():
    return typer.Option(False, "--json", help="Print JSON on stdout instead of a table.")


def _said(rule, what: str) -> None:
    template = f"spec {rule.template}" if rule.template_kind == "spec" else f"draft {rule.template}"
    console.print(f"{what} drop rule [bold]{rule.id}[/]: {escape(rule.prefix)} → {escape(template)} ({rule.mode}, "
                  f"account {escape(rule.account_id)})", highlight=False, soft_wrap=True)


def _rewatch(engine) -> None:
    """On an S3 bucket announced through SQS (SMSFLOW_BUCKET=s3://…, SMSFLOW_DROP_QUEUE set), the bucket's
    notifications follow the rules' prefixes; a failure leaves the rule changed and says what to run."""
    bucket, queue_url = os.environ.get("SMSFLOW_BUCKET", ""), os.environ.get("SMSFLOW_DROP_QUEUE", "").strip()
    if not (bucket.startswith("s3://") and queue_url):
        return
    from pipelines.drops.notifications import watch_drops

    try:
        watch_drops(bucket, queue_url.rstrip("/").rsplit("/", 1)[-1], engine=engine)
    except Exception as error:  # noqa: BLE001 - the rule is in the store: only its notifications lag
        console.print(f"The S3 notifications of {escape(bucket)} were not updated ({type(error).__name__}: "
                      f"{escape(str(error))}): run smsflow drops watch-s3 [DROP-1]", highlight=False, soft_wrap=True)


@group.command()
def add(
    prefix: str = typer.Argument(..., help="The folder of the bucket it watches, e.g. incoming/vip/."),
    account: str = typer.Option("default", "--account", help="The account whose campaigns drops start (ACC-1)."),
    spec: str = typer.Option(None, "--spec", help="The template: a spec file in the bucket, e.g. specs/vip.yaml."),
    campaign: str = typer.Option(None, "--campaign", help="The template: a saved draft's campaign id (CAMP-3)."),
    mode: str = typer.Option("approve", "--mode", help="approve: planned, then a person approves the test; auto: "
                                                       "sent under approval: auto (SEND-3)."),
    max_invalid_share: float = typer.Option(None, "--max-invalid-share",
                                            help="Largest share of invalid numbers a drop may hold (default: the "
                                                 "template's contracts.max_invalid_share) (PLUS-3)."),
    max_bytes: int = typer.Option(None, "--max-bytes", help="Largest file accepted, in bytes (default 2 GiB)."),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """A new rule: drops under PREFIX start the template in this account."""
    from pipelines.store.drops import add_rule

    engine = open_account_store(store)
    rule = add_rule(engine, account, prefix, spec=spec, campaign=campaign, mode=mode,
                    max_invalid_share=max_invalid_share, max_bytes=max_bytes)
    _rewatch(engine)
    if as_json:
        print_json(rule.as_dict())
        return
    _said(rule, "Added")


@group.command("list")
def list_(
    account: str = typer.Option(None, "--account", help="Only this account's rules."),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """The drop rules, by prefix."""
    from pipelines.store.drops import list_rules

    rules = list_rules(open_account_store(store), account)
    if as_json:
        print_json([rule.as_dict() for rule in rules])
        return
    if not rules:
        console.print("No drop rule: smsflow drops add incoming/vip/ --spec specs/vip.yaml adds one.")
        return
    table = Table(title="Drop rules")
    for column in ("id", "prefix", "account", "template", "mode", "max invalid", "max bytes"):
        table.add_column(column)
    for rule in rules:
        table.add_row(str(rule.id), rule.prefix, rule.account_id, f"{rule.template_kind} {rule.template}", rule.mode,
                      "template's" if rule.max_invalid_share is None else f"{rule.max_invalid_share:.0%}",
                      "default" if rule.max_bytes is None else f"{rule.max_bytes:,}")
    out.print(table)


@group.command()
def remove(
    rule: str = typer.Argument(..., help="The rule's id or prefix (smsflow drops list)."),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """Remove a rule; the drops it accepted stay recorded (a same file dropped again is still a duplicate)."""
    from pipelines.store.drops import remove_rule

    engine = open_account_store(store)
    removed = remove_rule(engine, rule)
    _rewatch(engine)
    if as_json:
        print_json(removed.as_dict())
        return
    _said(removed, "Removed")


@group.command()
def check(
    file: str = typer.Argument(..., help="A file in the bucket, e.g. bucket/incoming/vip/export.csv, or an s3://bucket/key object."),
    bucket: str = typer.Option(None, "--bucket", envvar="SMSFLOW_BUCKET", show_envvar=False,
                               help="The bucket: a folder or s3://bucket/prefix (default: $SMSFLOW_BUCKET, else "
                                    "bucket)."),
    as_json: bool = _json(),
    store: str = store_option(),
) -> None:
    """What a drop of FILE would do, without moving or recording anything: drop it without its .done marker,
    check it, then write the marker (on S3, where an object is taken without one: check it outside the drop
    prefixes, then copy it under one). Exit code 1 when it would be quarantined."""
    from pipelines.drops import check_drop

    outcome = check_drop(bucket or "bucket", file, engine=open_account_store(store))
    if as_json:
        print_json(outcome.as_dict())
    elif outcome.accepted:
        console.print(f"Would be accepted by drop rule {outcome.rule_id}: {outcome.rows:,} rows; write "
                      f"{escape(outcome.source)}.done to drop it.", highlight=False, soft_wrap=True)
    else:
        said = outcome.reason
        where = ", ".join(f"{key} {said[key]}" for key in ("line", "row", "column") if said.get(key) is not None)
        console.print(f"Would be quarantined: {escape(said['check'])}: {escape(said['reason'])} "
                      f"[{said['rule_id']}]" + (f" ({escape(where)})" if where else ""),
                      highlight=False, soft_wrap=True)
    if not outcome.accepted:
        raise typer.Exit(1)


@group.command("watch-s3")
def watch_s3(
    queue: str = typer.Option("smsflow-drops", "--queue", help="The SQS queue's name (made if missing)."),
    bucket: str = typer.Option(None, "--bucket", envvar="SMSFLOW_BUCKET", show_envvar=False,
                               help="The bucket: s3://bucket/prefix (default: $SMSFLOW_BUCKET)."),
    store: str = store_option(),
) -> None:
    """Announce drops on an S3 bucket through SQS: the queue, and the bucket's notifications of new objects under
    incoming/ and the rules' prefixes to it (idempotent; with SMSFLOW_DROP_QUEUE set, drops add and remove keep the
    prefixes up to date). Prints the queue's URL (stdout), to set as SMSFLOW_DROP_QUEUE where Airflow runs."""
    from pipelines.drops.notifications import notified_prefixes, watch_drops

    if not bucket or not bucket.startswith("s3://"):
        console.print(f"drops watch-s3 needs an s3:// bucket (--bucket or SMSFLOW_BUCKET), not {bucket!r}: a "
                      f"folder's drops are announced by their .done marker [DROP-1]", highlight=False)
        raise typer.Exit(2)
    queue_url = watch_drops(bucket, queue, engine=open_account_store(store))
    prefixes = ", ".join(notified_prefixes(bucket))
    console.print(f"New objects of {escape(bucket)} under {escape(prefixes)} are announced to SQS; set "
                  f"SMSFLOW_DROP_QUEUE={escape(queue_url)} for Airflow's sms_drops.", highlight=False, soft_wrap=True)
    typer.echo(queue_url)
