"""
### One SMS campaign = one run of this DAG

**Start a campaign**: *Trigger* → fill the form (name, type, contact lists, message, sender, send time, test
numbers; options, account and checks in the sections below) → *Trigger*. Or, in the last section, give a spec
file in the bucket (`specs/soldes-vip.yaml`) or a saved campaign's id (`smsflow campaigns create`) instead.
From the command line (with the same environment as `make airflow`):

    .venv/bin/airflow dags trigger sms_campaign --conf '{"spec_path": "specs/soldes-vip.yaml"}'

**What a run does**: plan the recipients (statuses, parts, credits) → check the data contracts (too many
invalid numbers stops here; the `contracts` log's first line says why) → reserve the credits → wait for the
send time and, for marketing, the send window (Mon–Sat 08:00–20:00 in each recipient's own time, never on
public holidays; the wait's log says until when) → send the test message → **approval**: *Approve* or
*Reject* on this run's page (or `approval: auto`) → send, in batches → wait for the delivery receipts →
report → close.

**What a run's page says**:
- its **note** (top of the run page): the outcome in one line — *Sent* with the figures (recipients, delivered,
  failed, STOP replies, credits used) and where the report is; *Cancelled: why* (rejected by whom and when,
  or `smsflow campaigns cancel`); *Failed, cancelled: at which step*. A rejected or cancelled campaign's run
  is green (the user's decision, not a fault) but its sending tasks are skipped and its note says
  *Cancelled*; a failure is red.
- its **Campaign report** tab (the smsflow plugin): the figures at a glance (REP-1) and the CSV report
  (REP-2) to download.
- times: campaigns live in Paris time (the DAG's time zone is Europe/Paris). The UI shows times in your
  browser's time zone; pick *Europe/Paris* in the user menu → *Timezone* to read them as the campaign does.

**Cancel**: `smsflow campaigns cancel ID` (a scheduled campaign sends nothing; a running one stops before its
next batch). A reject, a timeout or a failure before sending cancels the campaign and gives its credits back.
Everything lands in `<bucket>/campaigns/<campaign id>/`; the lifecycle (scheduled → running → finished, or
cancelled) is the account store's, shared with `smsflow campaigns`. With the bucket on S3
(`SMSFLOW_BUCKET=s3://bucket/prefix`), each task works in its worker's local working copy (`SMSFLOW_WORKDIR`) and
syncs the campaign folder with S3 before and after its work: workers share S3, never a disk.

Thin by design (STYLE.md): only `airflow.sdk`, `pendulum` and the standard library are imported at parse
time; each task is a short adapter around one `pipelines` function and passes file paths, never data. The
form's fields are `campaign_form.json`, generated from the spec's model (`pipelines.spec.form`, kept equal by a
test), so a bad value is refused before a run starts.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

BUCKET_ENV = "SMSFLOW_BUCKET"  # a folder or s3://bucket/prefix; ./bucket beside the repository by default
SMPP_CONN_ID = "smsc_default"
BATCH_SIZE = int(os.environ.get("SMSFLOW_BATCH_SIZE", "10000"))
RECEIPT_TIMEOUT = float(os.environ.get("SMSFLOW_RECEIPT_TIMEOUT", "600"))
FORM = json.loads((Path(__file__).with_name("campaign_form.json")).read_text(encoding="utf-8"))


def bucket_root() -> Path:
    """The bucket's folder on this worker, read at run time (never at parse time): a local bucket itself, or the
    working copy of an s3:// one (synced around each task: `campaign_synced`). Every task calls it first, so it
    also points the task at the account store: $SMSFLOW_DB, else the Airflow connection `smsflow_db`, else
    <bucket>/smsflow.db."""
    from smsflow_provider.hooks.store import use_airflow_store

    from pipelines.storage import working_root

    use_airflow_store()
    default = Path(__file__).resolve().parents[1] / "bucket"
    return working_root(os.environ.get(BUCKET_ENV) or default).resolve()


def campaign_synced(campaign_id: str):
    """The campaign's folder on this worker, from the bucket and its id (never a path in XCom: that names another
    worker's disk), pulled from S3 before the task's work and pushed after it (issue 13)."""
    from pipelines.bucket import campaign_synced as synced

    return synced(bucket_root(), campaign_id)


def _param(schema: dict) -> Param:
    schema = dict(schema)
    return Param(schema.pop("default", None), **schema)


# The form's fields in the order a person fills them (campaign_form.json keeps it), then the two alternatives.
ALTERNATIVES = "Or: a spec file or a saved campaign instead of the fields above"
PARAMS = {name: _param(schema) for name, schema in FORM.items()}
PARAMS.update({
    "spec_path": Param(None, type=["string", "null"], title="Spec file", section=ALTERNATIVES,
                       examples=["specs/soldes-vip.yaml"],
                       description="A campaign spec (YAML) in the bucket, e.g. specs/soldes-vip.yaml; the fields "
                                   "above are then not read (CAMP-2)."),
    "campaign_id": Param(None, type=["string", "null"], title="Saved campaign", section=ALTERNATIVES,
                         description="A draft made with `smsflow campaigns create`, by its id: its spec is read "
                                     "from the account store; the fields above are then not read (CAMP-3)."),
})


def settle_failed_run(context) -> None:
    """SEND-8: a run that ends failed settles its reservation even when `close` did not run (it settles once:
    a run `close` already settled gives nothing back twice). A run marked failed by hand in the UI gets no DAG
    callback from Airflow: the next reservation, or `smsflow credits`, settles it (`settle_ended`)."""
    from pipelines.campaign import settle_run

    settled = settle_run(bucket_root(), context["run_id"], "run failed")
    if settled:
        print(f"Run {context['run_id']} failed: credits settled {settled}")


@dag(
    dag_id="sms_campaign",
    description="One SMS campaign per run: plan, check, test, approve, send, report (smsflow)",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
    catchup=False,
    max_active_tasks=4,
    tags=["smsflow"],
    params=PARAMS,
    doc_md=__doc__,
    on_failure_callback=settle_failed_run,
)
def sms_campaign():
    from smsflow_provider.operators.approval import CampaignApprovalOperator
    from smsflow_provider.operators.campaign import SmppDispatchOperator, WaitForSendTimeOperator

    @task
    def prepare() -> dict:
        """CAMP-2: the spec from the form or the bucket, validated, written into the campaign folder."""
        from pipelines.campaign import prepare_run
        from pipelines.spec import load_spec

        from pipelines.bucket import prefix, roots
        from pipelines.storage import push

        context = get_current_context()
        conf = {key: value for key, value in context["params"].items()}
        # CAMP-3: the campaign is scheduled in the store with this run (a new one, or the draft conf names)
        root = bucket_root()
        identifier, spec_path = prepare_run(root, context["run_id"], conf)
        push(root, prefix(identifier))  # the spec written into the campaign folder, on S3 for the next tasks
        spec = load_spec(spec_path, roots=roots(root))
        return {"campaign_id": identifier, "spec_path": str(spec_path), "approval": spec.approval,
                "account": spec.account.id, "max_invalid_share": spec.contracts.max_invalid_share}

    @task
    def plan(prepared: dict) -> dict:
        """The plan stage (PLUS-2): one planned row per input row, statuses, parts, credits."""
        from pipelines.campaign import plan_step

        with campaign_synced(prepared["campaign_id"]) as paths:
            planned = plan_step(bucket_root(), prepared["campaign_id"], paths.spec)
        print(f"Planned {planned['rows']:,} rows: {planned['sendable']:,} sendable, {planned['credits']:,} credits")
        return {**prepared, **planned}

    @task
    def contracts(planned: dict) -> dict:
        """PLUS-3: Great Expectations gates the send; unsendable rows go to quarantine.csv. The verdict, in one
        line, is the first thing the task says (and, broken, the run's note says it too)."""
        from airflow.sdk.exceptions import AirflowFailException

        from pipelines.contracts import ContractError, check_plan

        try:
            with campaign_synced(planned["campaign_id"]) as paths:  # quarantine.csv written beside the plan
                result = check_plan(paths.plan, planned["max_invalid_share"])
        except ContractError as broken:
            print(broken.verdict)
            get_current_context()["ti"].xcom_push(key="verdict", value=broken.verdict)
            raise AirflowFailException(broken.verdict) from None  # the same plan breaks it again: no retry
        print(result.verdict)
        return planned

    @task
    def reserve_credits(planned: dict) -> dict:
        """SEND-5: the campaign holds its credits from now on, in one transaction that cannot overspend. Short of
        credits (another campaign reserved first), it holds what is left and the rows past it get status 8 (the
        plan is rewritten). First, runs that ended without settling (marked failed by hand) settle (SEND-8)."""
        from pipelines.campaign import reserve_step

        context = get_current_context()
        ti, dag_id = context["ti"], context["dag"].dag_id

        def ended(held: dict) -> bool:
            if not held["run_id"] or held["run_id"] == context["run_id"]:
                return False
            try:
                return ti.get_dagrun_state(dag_id, held["run_id"]) in ("success", "failed")
            except Exception as error:  # noqa: BLE001 - an unknown run is left held, and said
                print(f"Run {held['run_id']} of campaign {held['campaign_id']} not judged: {error}")
                return False

        with campaign_synced(planned["campaign_id"]) as paths:  # short of credits, the plan is rewritten
            reserved = reserve_step(bucket_root(), planned["campaign_id"], planned["account"], paths.plan,
                                    run_id=context["run_id"], ended=ended)
        if not reserved["limited"]:
            print(f"Account {planned['account']} has no credit limit: nothing held")
        elif reserved["short"]:
            print(f"Reserved {reserved['held']:,} credits, {reserved['short']:,} short: {reserved['cut']:,} rows "
                  f"past them get status 8 and are not sent (SEND-5)")
        else:
            print(f"Reserved {reserved['held']:,} credits")
        return {**planned, "credits": reserved["held"] if reserved["limited"] else planned["credits"]}

    wait = WaitForSendTimeOperator(task_id="wait_for_send_time",
                                   campaign_id="{{ ti.xcom_pull(task_ids='prepare')['campaign_id'] }}",
                                   spec_path="{{ ti.xcom_pull(task_ids='prepare')['spec_path'] }}",
                                   plan_dir="{{ ti.xcom_pull(task_ids='plan')['plan_dir'] }}")

    @task
    def test_send(planned: dict) -> dict:
        """SEND-3: the personalised message to the test numbers, then the SEND-4 summary for the approver."""
        from pipelines.campaign import approval_request, send_test_message
        from smsflow_provider.hooks.smpp import SmppHook

        with campaign_synced(planned["campaign_id"]) as paths:  # its ledger and events in dispatch/tests
            sent = send_test_message(paths.plan, SmppHook(SMPP_CONN_ID).get_settings())
            if sent:
                print(f"Test sent ({sent.encoding}): " + ", ".join(f"{r.number} → {r.status}" for r in sent.results))
            return approval_request(paths.plan)

    @task.branch
    def approval_mode(planned: dict) -> str:
        return "auto_approve" if planned["approval"] == "auto" else "approve"

    approve = CampaignApprovalOperator(  # Airflow's ApprovalOperator: Approve / Reject on the run page
        task_id="approve",
        subject="{{ ti.xcom_pull(task_ids='test_send')['subject'] }}",
        body="{{ ti.xcom_pull(task_ids='test_send')['body'] }}",
        response_timeout=timedelta(hours=24),
    )

    @task
    def auto_approve(planned: dict) -> dict:
        """`approval: auto`: scheduled automation by a data team, recorded in the audit."""
        from pipelines.campaign import WAREHOUSE, record

        record(bucket_root() / WAREHOUSE, planned["campaign_id"], "scheduled", "approval: auto (spec)")
        return {"chosen_options": ["Approve"], "responded_by_user": "approval: auto"}

    @task(trigger_rule="none_failed_min_one_success")
    def batches(planned: dict) -> list[int]:
        from airflow.sdk.exceptions import AirflowSkipException

        from pipelines.campaign import WAREHOUSE, cancelled_by_user, record
        from pipelines.dispatch import batch_count

        cancelled = cancelled_by_user(bucket_root(), planned["campaign_id"])
        if cancelled:  # CAMP-3: `smsflow campaigns cancel` while it waited; close settles it, cancelled
            raise AirflowSkipException(f"campaign {planned['campaign_id']} {cancelled}: nothing sent")
        context = get_current_context()
        who = context["ti"].xcom_pull(task_ids="approve") or context["ti"].xcom_pull(task_ids="auto_approve") or {}
        record(bucket_root() / WAREHOUSE, planned["campaign_id"], "running",
               f"approved by {who.get('responded_by_user')}")
        with campaign_synced(planned["campaign_id"]) as paths:
            return list(range(batch_count(paths.plan, BATCH_SIZE)))

    @task
    def receipts(planned: dict, sent: list) -> dict:
        """Wait for every part's final receipt, or the end of the wait (late ones: `smsflow receive`)."""
        from pipelines.receipts_wait import receipts_step
        from smsflow_provider.hooks.smpp import SmppHook

        with campaign_synced(planned["campaign_id"]) as paths:  # the events it hears, on S3 for finish
            return receipts_step(paths.plan, SmppHook(SMPP_CONN_ID).get_settings(), RECEIPT_TIMEOUT)

    @task(pool="duckdb")
    def finish(planned: dict, received: dict) -> dict:
        """Load ledger and events into DuckDB, bill what was sent, write the CSV report (REP-1, REP-2)."""
        from pipelines.campaign import finish_step

        with campaign_synced(planned["campaign_id"]):  # the report and stats.json, on S3 for the report tab
            result = finish_step(bucket_root(), planned["campaign_id"], planned["account"])
        figures = result["figures"]
        print(f"Report: {result['report']} (the run's Campaign report tab): {figures['sent']:,} recipients sent, "
              f"{figures['delivered']:,} delivered, {figures['failed']:,} failed, {figures['stops']:,} STOP replies; "
              f"credits settled: {result['sent_parts']:,} parts sent stay spent, {result['credits_back']:,} given "
              "back")
        return result

    @task(trigger_rule="all_done")
    def close(planned: dict) -> str:
        """After a reject, a timeout or a failure: cancelled, credits given back (CAMP-3, SEND-5).

        A reject is the user's decision: the run succeeds. Anything else fails the run, named. Either way the
        outcome is written as the run's note (a rejected run is not a bare green Success).
        """
        from pipelines.campaign import cancel_step, cancelled_by_user, run_note
        from smsflow_provider.hooks.airflow_api import AirflowApiHook

        context = get_current_context()
        api = AirflowApiHook()
        note = api.set_run_note
        finished = context["ti"].xcom_pull(task_ids="finish")
        if finished and (stopped := cancelled_by_user(bucket_root(), planned["campaign_id"])):
            # CAMP-3: cancelled while it ran: the batches sent before the cancel stay spent, the rest came back.
            note(context["dag"].dag_id, context["run_id"],
                 run_note("cancelled", reason=stopped, sent=finished["parts"],
                          credits_back=finished.get("credits_back", 0)))
            return "cancelled"
        if finished:
            pulled = context["ti"].xcom_pull(task_ids="dispatch")  # one batch: its dict; several: a sequence
            batches = [pulled] if isinstance(pulled, dict) else [b for b in pulled or [] if isinstance(b, dict)]
            # REP-2: named from the bucket (the finish task's path is its worker's); the Campaign report tab has it
            from pipelines.layout import CampaignPaths

            report = CampaignPaths.in_bucket(bucket_root(), planned["campaign_id"]).report
            note(context["dag"].dag_id, context["run_id"],
                 run_note("finished", parts=finished["parts"], delivered=finished["delivered"],
                          held=sum(batch.get("held", 0) for batch in batches),
                          resent=sum(batch.get("resent", 0) for batch in batches),
                          credits_back=finished.get("credits_back", 0), figures=finished.get("figures"),
                          report=report.relative_to(bucket_root())))
            return "finished"
        states = context["ti"].get_task_states(dag_id=context["dag"].dag_id, run_ids=[context["run_id"]])
        states = states.get(context["run_id"], {})
        failed = sorted(task for task, state in states.items() if state in ("failed", "upstream_failed"))
        cancelled = cancelled_by_user(bucket_root(), planned["campaign_id"])  # CAMP-3: smsflow campaigns cancel
        rejected = not cancelled and not failed and states.get("approve") == "success" and \
            states.get("batches") == "skipped"
        verdict = context["ti"].xcom_pull(task_ids="contracts", key="verdict") if "contracts" in failed else None
        reason = cancelled or ("rejected at approval" if rejected else
                               f"failed at {', '.join(failed) or 'an unknown step'}" +
                               (f" ({verdict})" if verdict else ""))
        # A reject pushes no XCom (the skip ends the task): who answered is read from the approval itself.
        answer = (api.approval(context["dag"].dag_id, context["run_id"], "approve") or {}) if rejected else {}
        who = (answer.get("responded_by_user") or {}).get("name")
        with campaign_synced(planned["campaign_id"]):  # settled from the ledger sent so far
            settled = cancel_step(bucket_root(), planned["campaign_id"], planned["account"],
                                  f"{reason} by {who}" if who else reason)
        back, sent = settled["credits_back"], settled["sent_parts"]  # SEND-8: only unsent parts come back
        print(f"Campaign cancelled ({reason}); {back:,} credits given back; " +
              (f"{sent:,} parts sent stay spent" if sent else "nothing was sent after the test"))
        note(context["dag"].dag_id, context["run_id"],
             run_note("cancelled" if rejected or cancelled else "failed", reason="rejected" if rejected else reason,
                      credits_back=back, sent=sent, who=who, at=answer.get("responded_at")))
        if not rejected and not cancelled:
            raise RuntimeError(f"campaign {planned['campaign_id']} cancelled: {reason} (see the failed task's log)")
        return "cancelled"

    prepared = prepare()
    planned = plan(prepared)
    checked = contracts(planned)
    reserved = reserve_credits(checked)
    tested = test_send(reserved)
    reserved >> wait >> tested
    mode = approval_mode(planned)
    automatic = auto_approve(planned)
    tested >> mode >> [approve, automatic]
    numbers = batches(planned)
    [approve, automatic] >> numbers
    dispatched = SmppDispatchOperator.partial(
        task_id="dispatch", pool="smsc", plan_dir="{{ ti.xcom_pull(task_ids='plan')['plan_dir'] }}",
        campaign_id="{{ ti.xcom_pull(task_ids='prepare')['campaign_id'] }}",
        batch_size=BATCH_SIZE, smpp_conn_id=SMPP_CONN_ID, retries=3, retry_delay=timedelta(seconds=5),
    ).expand(batch=numbers)
    received = receipts(planned, dispatched.output)
    finished = finish(planned, received)
    finished >> close(planned)


sms_campaign()
