"""BL-2 applied by the library: the STOP replies a campaign's load brings in join the account's own blacklist."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl
from helpers import smsflow, write_list, write_spec

from pipelines.dispatch import SmscSettings, campaign_dirs, send_plan
from pipelines.dlr import EventWriter, keyed_rows, part_key
from pipelines.plan import plan_file
from pipelines.warehouse import load_dispatch, load_plan

CONTACTS = "Mobile;Texte\n0611111111;Bonjour Ann\n0622222222;Bonjour Bob\n0633333333;Bonjour Eve\n"


def plan_campaign(bucket: Path, campaign: str, own: str | None = "blacklists/own.txt") -> Path:
    """The contacts planned into `bucket`/campaigns/`campaign`/plan, checked against the own blacklist `own`."""
    write_list(bucket / "list.csv", CONTACTS)
    account = {"blacklists": {"own": own}} if own else {}
    if own and not (bucket / own).exists():
        write_list(bucket / own, "")
    spec = write_spec(bucket, lists=["list.csv"], message="${Texte}", account=account)
    return plan_file(spec, bucket / "campaigns" / campaign / "plan").out_dir


def sent(plan_dir: Path, replies: list[tuple[str, str]], at: float | None = None) -> tuple[Path, Path]:
    """A send ledger (every part accepted at `at`) and the campaign's own replies (handset, text) beside the plan."""
    at = time.time() if at is None else at
    keys = keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).get_column("MESSAGE_KEY").to_list()
    ledger_dir, events_dir = campaign_dirs(plan_dir)
    ledger_dir.mkdir(parents=True)
    (ledger_dir / "batch-1.jsonl").write_text("".join(
        json.dumps({"key": part_key(key, 1), "event": "accepted", "status": 0, "message_id": f"M{index}",
                    "ts": at}) + "\n" for index, key in enumerate(keys)), encoding="utf-8")
    write_replies(events_dir, replies, at + 30)
    return ledger_dir, events_dir


def write_replies(folder: Path, replies: list[tuple[str, str]], at: float) -> None:
    writer = EventWriter(folder)
    for handset, text in replies:
        writer.add(kind="reply", message_id=None, stat=None, err="", done_date="", handset=handset, service="36184",
                   text=text, received_at=datetime.fromtimestamp(at, timezone.utc))
    writer.flush()


def statuses(plan_dir: Path) -> dict[str, int | None]:
    return dict(pl.read_parquet(plan_dir / "recipients.parquet").select("INT_MOBILE", "STATUS_CODE").iter_rows())


def files(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*")}


def test_bl2_a_stop_reply_loaded_joins_the_own_blacklist_and_the_next_campaign_gives_it_14(smsc, bucket):
    """A real send to the simulator, whose recipient answers « Stop ! »: after load_dispatch the number is in the
    account's own blacklist file and table, and the next campaign planned from the same spec does not send to it."""
    simulator = smsc(replies=[{"number": "33622222222", "text": "Stop !", "delay": 0.0}])
    plan_dir = plan_campaign(bucket, "c1")
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    own = bucket.resolve() / "blacklists" / "own.txt"
    assert summary["campaign"]["blacklists"] == {"own": str(own), "global": None, "client": None}
    report = send_plan(plan_dir, SmscSettings.from_url(simulator.url(linger=30.0)))
    assert (report.accepted, report.replies) == (3, 1)
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    loaded = load_dispatch(database, "c1", *campaign_dirs(plan_dir))
    assert (loaded.parts, loaded.opt_outs) == (3, 1)
    assert own.read_text(encoding="utf-8") == "+33622222222\n"
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("SELECT account_id, kind, int_mobile FROM blacklists").fetchall() == [
            ("default", "own", "+33622222222")]
        assert connection.execute("SELECT status_code FROM message_status WHERE int_mobile = '+33622222222'"
                                  ).fetchall() == [(17,)]
    assert statuses(plan_campaign(bucket, "c2")) == {"+33611111111": None, "+33622222222": 14, "+33633333333": None}


def test_bl2_loading_twice_adds_nothing(bucket):
    """A second load (a retried DAG task, `smsflow load` again) finds the number there, written as E.164 or not."""
    write_list(bucket / "blacklists" / "own.txt", "0644444444\r\n0633333333")  # CRLF, no newline at the end
    plan_dir = plan_campaign(bucket, "c1")
    ledger_dir, events_dir = sent(plan_dir, [("33611111111", "STOP"), ("33633333333", "stop"),
                                             ("33611111111", "Arrêt")])
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    first = load_dispatch(database, "c1", ledger_dir, events_dir)
    written = (bucket / "blacklists" / "own.txt").read_bytes()
    second = load_dispatch(database, "c1", ledger_dir, events_dir)
    assert (first.opt_outs, second.opt_outs) == (1, 0)
    assert first == second == (2, 3)  # Eve, already in the own blacklist (14), was not sent to: her STOP adds nothing
    assert written == (bucket / "blacklists" / "own.txt").read_bytes() == \
        b"0644444444\r\n0633333333\r\n+33611111111\r\n"
    assert files(bucket / "blacklists") == {Path("own.txt")}  # replaced whole, no staging file left


def test_bl2_a_csv_own_blacklist_gets_a_row_with_the_number_in_its_mobile_column(bucket):
    write_list(bucket / "blacklists" / "own.csv", "Nom;Mobile\nZoé;0644444444\n")
    plan_dir = plan_campaign(bucket, "c1", own="blacklists/own.csv")
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    assert load_dispatch(database, "c1", *sent(plan_dir, [("33622222222", "STOP")])).opt_outs == 1
    assert (bucket / "blacklists" / "own.csv").read_text(encoding="utf-8") == \
        "Nom;Mobile\nZoé;0644444444\n;+33622222222\n"
    assert statuses(plan_campaign(bucket, "c2", own="blacklists/own.csv"))["+33622222222"] == 14


def test_bl2_a_late_stop_from_the_shared_events_folder_joins_the_own_blacklist(bucket):
    """A STOP that reached the long-lived `smsflow receive` after the send is the campaign's too (PLUS-4); one from
    a number the campaign did not send to, or from before it started, is not this campaign's to record."""
    plan_dir = plan_campaign(bucket, "c1")
    started = time.time()
    ledger_dir, events_dir = sent(plan_dir, [], at=started)
    shared = bucket / "events"
    write_replies(shared, [("33633333333", "STOP")], started + 600)
    write_replies(shared, [("33699999999", "STOP")], started + 600)  # another campaign's recipient
    write_replies(shared, [("33611111111", "STOP")], started - 600)  # before this campaign was sent
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    assert load_dispatch(database, "c1", ledger_dir, events_dir).opt_outs == 0  # the shared folder not read
    assert load_dispatch(database, "c1", ledger_dir, events_dir, shared_events=shared).opt_outs == 1
    assert (bucket / "blacklists" / "own.txt").read_text(encoding="utf-8") == "+33633333333\n"


def test_bl2_without_an_own_blacklist_a_warning_counts_the_stops_and_no_file_is_created(bucket, caplog):
    plan_dir = plan_campaign(bucket, "c1", own=None)
    assert json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))["campaign"]["blacklists"]["own"] is None
    ledger_dir, events_dir = sent(plan_dir, [("33611111111", "STOP"), ("33622222222", "Stop"), ("33633333333", "Ok")])
    database = bucket / "warehouse.duckdb"
    load_plan(database, "c1", plan_dir)
    before = files(bucket)
    with caplog.at_level(logging.WARNING, logger="pipelines.warehouse"):
        assert load_dispatch(database, "c1", ledger_dir, events_dir).opt_outs == 0
    assert not (bucket / "blacklists").exists()
    assert not [path for path in files(bucket) - before if not path.name.startswith("warehouse.duckdb")]
    (warning,) = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "c1: 2 recipient(s) replied STOP" in warning.getMessage()
    assert "account.blacklists.own" in warning.getMessage() and "[BL-2]" in warning.getMessage()


def test_bl2_smsflow_load_adds_the_opt_outs_and_prints_how_many(bucket):
    plan_dir = plan_campaign(bucket, "c1")
    sent(plan_dir, [("33611111111", "STOP")])
    result = smsflow("load", str(plan_dir.parent), "--db", str(bucket / "warehouse.duckdb"),
                     "--late-events", str(bucket / "events"))
    assert result.returncode == 0, result.stderr
    assert "1 opt-out(s) added to the own blacklist" in " ".join(result.stderr.split())  # rich wraps long lines
    assert (bucket / "blacklists" / "own.txt").read_text(encoding="utf-8") == "+33611111111\n"


def test_bl2_the_dags_finish_step_adds_the_opt_outs(bucket):
    """The DAG's path: the spec made absolute by prepare_spec, planned by plan_step, loaded by finish_step."""
    from pipelines.campaign import finish_step, plan_step, prepare_spec

    write_list(bucket / "list.csv", CONTACTS)
    write_list(bucket / "blacklists" / "own.txt", "")
    spec = prepare_spec(bucket, "c1", {"name": "Test", "type": "notification", "message": "${Texte}",
                                       "lists": ["list.csv"], "account": {"blacklists": {"own": "blacklists/own.txt"}}})
    planned = plan_step(bucket, "c1", spec)
    sent(Path(planned["plan_dir"]), [("33622222222", "Stop")])
    assert finish_step(bucket, "c1", planned["account"])["opt_outs"] == 1
    assert (bucket / "blacklists" / "own.txt").read_text(encoding="utf-8") == "+33622222222\n"
