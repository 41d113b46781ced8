"""BL-1, BL-2, PLUS-6: blacklists and opt-outs in the account store, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from helpers import write_list
from sqlalchemy import insert, select

from pipelines.dlr import EventWriter
from pipelines.store import create_account, open_store, set_account
from pipelines.optouts import apply_opt_outs_from_events, record_replies
from pipelines.store.blacklists import (
    BlacklistError, add_numbers, blacklist_numbers, export_file, history, import_file, list_numbers, remove_numbers,
)
from pipelines.store.schema import opt_out_audit, sends

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def replies(*rows: tuple[str, str, int]) -> pl.DataFrame:
    """(handset as the SMSC writes it, text, minutes after T0)."""
    return pl.DataFrame([{"number": number, "text": text, "at": T0 + timedelta(minutes=minutes)}
                         for number, text, minutes in rows],
                        schema={"number": pl.String, "text": pl.String, "at": pl.Datetime("us", "UTC")})


def own(store, account: str = "default") -> list[str]:
    return sorted(blacklist_numbers(store, account)["own"].to_list())


def audit_rows(store) -> list[tuple]:
    with store.begin() as connection:
        return [tuple(row) for row in connection.execute(
            select(opt_out_audit.c.account_id, opt_out_audit.c.number, opt_out_audit.c.action,
                   opt_out_audit.c.campaign_id, opt_out_audit.c.text).order_by(opt_out_audit.c.id))]


def test_bl1_three_blacklists_normalised_to_e164_and_read_for_the_plan(store):
    create_account(store, "acme", client="bigco")
    create_account(store, "acme-eu", client="bigco")
    assert add_numbers(store, "own", "acme", ["06 11 11 11 11", "+33611111111", "0033611111111", "hmac:ab12"],
                       source="cli") == 2
    assert add_numbers(store, "global", "acme", ["0622222222"], source="cli", by="admin") == 1
    assert add_numbers(store, "client", "acme", ["0633333333"], source="cli") == 1
    lists = blacklist_numbers(store, "acme")
    assert {kind: sorted(numbers.to_list()) for kind, numbers in lists.items()} == {
        "own": ["+33611111111", "hmac:ab12"], "global": ["+33622222222"], "client": ["+33633333333"]}
    # The global blacklist is every account's, the client's every account of that client's; own is the account's.
    assert {kind: numbers.to_list() for kind, numbers in blacklist_numbers(store, "acme-eu").items()} == {
        "own": [], "global": ["+33622222222"], "client": ["+33633333333"]}
    assert blacklist_numbers(store)["client"].to_list() == []  # the default account has no client


def test_bl1_a_client_blacklist_needs_the_account_to_have_a_client(store):
    with pytest.raises(BlacklistError, match=r"account 'default' has no client.*\[BL-1\]"):
        add_numbers(store, "client", "default", ["0611111111"], source="cli")
    with pytest.raises(BlacklistError, match=r"'shared' is not one of own, global, client"):
        add_numbers(store, "shared", "default", ["0611111111"], source="cli")
    set_account(store, "default", client="bigco")
    assert add_numbers(store, "client", "default", ["0611111111"], source="cli") == 1


def test_bl1_adding_and_removing_are_idempotent_and_audited(store):
    assert add_numbers(store, "own", "default", ["0611111111", "0622222222"], source="cli", by="ann") == 2
    assert add_numbers(store, "own", "default", ["+33611111111"], source="cli", by="ann") == 0
    assert remove_numbers(store, "own", "default", ["0611111111", "0699999999"], by="bob") == 1
    assert remove_numbers(store, "own", "default", ["0611111111"], by="bob") == 0
    assert own(store) == ["+33622222222"]
    assert audit_rows(store) == [("default", "+33611111111", "add", None, None),
                                 ("default", "+33622222222", "add", None, None),
                                 ("default", "+33611111111", "remove", None, None)]
    assert list_numbers(store, "own", "default", search="2222").get_column("number").to_list() == ["+33622222222"]


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop. ", "S T O P", "Arrêt !", "ARRET", "stopall", "STOP ALL",
                                  "Désabonner", "unsubscribe"])
def test_bl2_plus6_every_stop_keyword_opts_the_number_out_with_an_audit_row(store, text):
    result = record_replies(store, replies(("33611111111", text, 0)), campaign_id="c1", account_id="default")
    assert (result.stops, result.added, result.added_numbers) == (1, 1, ("+33611111111",))
    assert own(store) == ["+33611111111"]
    assert audit_rows(store) == [("default", "+33611111111", "stop", "c1", text)]
    row = list_numbers(store, "own", "default").row(0, named=True)
    assert (row["source"], row["campaign_id"], row["added_at"]) == ("stop", "c1", T0)


def test_bl2_other_replies_change_nothing(store):
    result = record_replies(store, replies(("33611111111", "Merci", 0), ("33622222222", "stop au spam svp", 1),
                                           ("33633333333", "restart", 2)), account_id="default")
    assert (result.stops, result.starts, own(store), audit_rows(store)) == (0, 0, [], [])


def test_bl2_the_same_reply_twice_is_one_audit_row(store):
    batch = replies(("33611111111", "STOP", 0), ("33611111111", "STOP", 0))
    first = record_replies(store, batch, campaign_id="c1", account_id="default")
    second = record_replies(store, batch, campaign_id="c1", account_id="default")
    assert (first.stops, first.added, second.stops, second.added) == (1, 1, 0, 0)
    assert len(audit_rows(store)) == 1
    # A second STOP at another time is another reply: audited, the number stays listed once.
    assert record_replies(store, replies(("33611111111", "STOP", 5)), account_id="default").stops == 1
    assert own(store) == ["+33611111111"] and len(audit_rows(store)) == 2


@pytest.mark.parametrize("texts, listed", [(["STOP", "START"], []), (["START", "STOP"], ["+33611111111"]),
                                           (["STOP", "Start !", "arrêt"], ["+33611111111"])])
@pytest.mark.parametrize("batched", [False, True])
def test_plus6_replies_apply_in_time_order_in_one_batch_or_across_batches(store, texts, listed, batched):
    """Given newest first (one batch, or one call each as late files arrive), the latest reply still decides."""
    rows = list(reversed([("33611111111", text, minute) for minute, text in enumerate(texts)]))
    for batch in ([[row] for row in rows] if batched else [rows]):
        record_replies(store, replies(*batch), account_id="default")
    assert own(store) == listed
    assert sorted(row[2] for row in audit_rows(store)) == sorted(
        "start" if "tart" in text.lower() else "stop" for text in texts)


def test_plus6_a_start_removes_the_opt_out_and_a_late_older_stop_does_not_bring_it_back(store):
    record_replies(store, replies(("33611111111", "STOP", 0)), account_id="default")
    result = record_replies(store, replies(("33611111111", "START", 10)), account_id="default")
    assert (result.starts, result.removed, own(store)) == (1, 1, [])
    # A STOP sent before the START but seen only now (another events file) is audited, and changes nothing.
    late = record_replies(store, replies(("33611111111", "stop", 5)), account_id="default")
    assert (late.stops, late.added, own(store)) == (1, 0, [])
    assert history(store, "0611111111").get_column("action").to_list() == ["stop", "stop", "start"]


def test_bl2_a_reply_goes_to_the_account_that_last_sent_to_the_number(store):
    create_account(store, "acme")
    create_account(store, "zeta")
    with store.begin() as connection:
        connection.execute(insert(sends), [
            {"account_id": "acme", "number": "+33611111111", "campaign_id": "a1", "type": "marketing",
             "sent_at": T0 - timedelta(days=2)},
            {"account_id": "zeta", "number": "+33611111111", "campaign_id": "z1", "type": "marketing",
             "sent_at": T0 - timedelta(hours=1)},
            {"account_id": "acme", "number": "+33622222222", "campaign_id": "a1", "type": "marketing",
             "sent_at": T0 - timedelta(days=2)},
            {"account_id": "zeta", "number": "+33622222222", "campaign_id": "z2", "type": "marketing",
             "sent_at": T0 + timedelta(hours=1)},  # after the reply: it cannot be what the reply answers
        ])
    result = record_replies(store, replies(("33611111111", "STOP", 0), ("33622222222", "STOP", 0),
                                           ("33633333333", "STOP", 0)))
    assert (result.added, result.unattributed) == (3, 1)
    assert (own(store, "acme"), own(store, "zeta"), own(store)) == (
        ["+33622222222"], ["+33611111111"], ["+33633333333"])  # nobody sent to 0633...: the default account's
    assert sorted((row[0], row[1], row[3]) for row in audit_rows(store)) == [
        ("acme", "+33622222222", "a1"), ("default", "+33633333333", None), ("zeta", "+33611111111", "z1")]


def test_bl2_apply_opt_outs_from_events_reads_each_new_file_once(store, tmp_path):
    events = tmp_path / "events"
    writer = EventWriter(events)
    writer.add(kind="receipt", message_id="1", stat="DELIVRD", handset="33611111111", text="")
    writer.add(kind="reply", handset="33611111111", service="36184", text="Stop", received_at=T0)
    writer.flush()
    assert apply_opt_outs_from_events(store, events, account_id="default").added == 1
    assert apply_opt_outs_from_events(store, events, account_id="default").stops == 0  # nothing new
    writer.add(kind="reply", handset="33611111111", service="36184", text="START", received_at=T0 + timedelta(1))
    writer.flush()
    assert apply_opt_outs_from_events(store, events, account_id="default").removed == 1
    assert own(store) == [] and len(audit_rows(store)) == 2
    assert apply_opt_outs_from_events(store, tmp_path / "none").stops == 0


def test_bl1_import_export_round_trip_of_a_windows_1252_csv(store, tmp_path):
    source = write_list(tmp_path / "optouts.csv", "Nom;Prénom;Portable\r\nLefèvre;Zoé;06 11 11 11 11\r\n"
                        "Müller;Jörg;+33622222222\r\nDoe;Ann;0611111111\r\n", encoding="cp1252")
    assert import_file(store, "own", "default", source, by="ann") == 2
    assert import_file(store, "own", "default", source) == 0
    for name in ("export.csv", "export.txt"):
        assert export_file(store, "own", "default", tmp_path / name) == 2
        create_account(store, name.replace(".", "-"))
        assert import_file(store, "own", name.replace(".", "-"), tmp_path / name) == 2
        assert own(store, name.replace(".", "-")) == own(store) == ["+33611111111", "+33622222222"]
    assert (tmp_path / "export.csv").read_bytes().startswith(b"\xef\xbb\xbfMobile;Source;Campagne;")
    assert {row[2] for row in audit_rows(store)} == {"import"}


def _add_and_stop(url: str, worker: int) -> tuple[int, int]:
    """One process: the same 200 numbers added by hand, and the same 100 STOP replies recorded, as every other."""
    store = open_store(url)
    added = add_numbers(store, "own", "default", [f"+336{index:08d}" for index in range(100, 300)], source="cli",
                        by=f"worker-{worker}")
    frame = replies(*[(f"336{index:08d}", "STOP", 0) for index in range(100)])
    return added, record_replies(store, frame, campaign_id=f"c{worker}", account_id="default").stops


@pytest.mark.integration  # real processes at once: not the fast unit part
def test_bl1_concurrent_adds_and_stops_list_each_number_once_and_audit_it_once(store_url):
    open_store(store_url)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_add_and_stop, [(store_url, worker) for worker in range(2)])
    assert (sum(added for added, _ in results), sum(stops for _, stops in results)) == (200, 100)
    store = open_store(store_url)
    assert len(own(store)) == 300
    actions = [row[2] for row in audit_rows(store)]
    assert (actions.count("add"), actions.count("stop"), len(actions)) == (200, 100, 300)


def test_bl1_blacklist_numbers_reads_a_large_list_fast(store):
    import time

    numbers = [f"+336{index:08d}" for index in range(50_000)]
    started = time.perf_counter()
    assert add_numbers(store, "global", "default", numbers, source="import") == 50_000
    assert time.perf_counter() - started < 10.0  # set-wise: ~2 s for 100,000 numbers here
    started = time.perf_counter()
    assert blacklist_numbers(store)["global"].len() == 50_000
    assert time.perf_counter() - started < 3.0  # ~3 s for a million


def test_bl1_a_csv_without_a_mobile_column_is_refused_not_read_as_lines(store, tmp_path):
    from pipelines.lists import ListError

    source = write_list(tmp_path / "optouts.csv", "Nom;Téléphone\nZoé;0611111111\n", encoding="cp1252")
    with pytest.raises(ListError, match=r"no mobile number column.*\[LIST-2\]"):
        import_file(store, "own", "default", source)
    assert own(store) == []
    assert import_file(store, "own", "default", write_list(tmp_path / "one.txt", "0611111111\n0622222222")) == 2
