"""PLUS-4, BL-2, PLUS-6: receipts parsed, matched in hex or decimal, statuses derived from events."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest

from pipelines.dlr import (
    EVENT_SCHEMA,
    LedgerFormatError,
    fold_replies,
    is_start,
    is_stop,
    keyed_rows,
    match_receipts,
    parse_receipt,
    part_key,
    recipient_statuses,
    split_part_keys,
    stop_numbers,
    with_id_keys,
)

TEXT = "id:0A1B sub:001 dlvrd:001 submit date:2611241010 done date:2611241011 stat:DELIVRD err:000 text:Bonjour"


def test_plus4_receipt_text_and_tlvs_parsed():
    receipt = parse_receipt(TEXT)
    assert (receipt.message_id, receipt.stat, receipt.err, receipt.done_date, receipt.text) == (
        "0A1B", "DELIVRD", "000", "2611241011", "Bonjour")
    assert parse_receipt(TEXT, receipted_message_id="2587").message_id == "2587"
    assert parse_receipt("", receipted_message_id="9", message_state=5).stat == "UNDELIV"


@pytest.mark.parametrize("resp_id, receipt_id", [("0A1B", "0A1B"), ("A1B", "0000A1B"), ("0A1B", "2587"),
                                                 ("2587", "A1B"), ("00042", "42"), ("ff", "255")])
def test_plus4_receipt_matches_its_part_in_hex_or_decimal(resp_id, receipt_id):
    parts = pl.DataFrame({"key": ["other", "mine"], "message_id": ["77777", resp_id]})
    receipts = pl.DataFrame({"message_id": [receipt_id], "stat": ["DELIVRD"]})
    assert match_receipts(parts, receipts).get_column("key").to_list() == ["mine"]


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop. ", "S T O P", "Arrêt", "ARRET!", "stopall", "Désabonner",
                                  "unsubscribe"])
def test_bl2_plus6_stop_keywords(text):
    assert is_stop(text)


@pytest.mark.parametrize("text", ["Merci", "stop au spam svp", "START", "Arrête de m'écrire"])
def test_bl2_other_replies_are_not_stop(text):
    assert not is_stop(text)


@pytest.mark.parametrize("text", ["START", "start", " Start. ", "S T A R T", "start!"])
def test_plus6_start_is_folded_as_stop_is_and_is_never_a_stop(text):
    assert is_start(text) and not is_stop(text)


@pytest.mark.parametrize("text", ["STOP", "Merci", "restart", "start please", "", "STARTSTOP"])
def test_plus6_other_replies_are_not_start(text):
    assert not is_start(text)


def test_plus6_fold_replies_folds_a_whole_column_in_order():
    folded = fold_replies(pl.Series(["Arrêt !", "Start", None, "Merci"]))
    assert folded.select("keyword", "stop", "start").rows() == [
        ("ARRET", True, False), ("START", False, True), ("", False, False), ("MERCI", False, False)]


def _events(*rows):
    return pl.DataFrame([dict(zip(("kind", "message_id", "stat", "handset", "text"), row),
                              received_at=datetime(2026, 11, 24, 10, i, tzinfo=timezone.utc),
                              err="", done_date="", service="36184")
                         for i, row in enumerate(rows)], schema=EVENT_SCHEMA)


def test_plus4_statuses_derived_and_multipart_rolled_up():
    plan = pl.DataFrame({"REF_LIST": ["l"] * 6, "ID_LINE": [1, 2, 3, 4, 5, 6],
                         "INT_MOBILE": ["+33611111111", "+33622222222", "+33633333333", "+33644444444",
                                        "+33655555555", "+33666666666"], "PARTS": [2, 2, 1, 1, 1, 1],
                         "MESSAGE": ["x" * 200, "y" * 200, "z", "z", "z", "z"]})
    line = dict(keyed_rows(plan).select("ID_LINE", "MESSAGE_KEY").iter_rows())
    ledger = pl.DataFrame({
        "key": [part_key(line[1], 1), part_key(line[1], 2), part_key(line[2], 1), part_key(line[2], 2),
                part_key(line[3], 1), part_key(line[4], 1), part_key(line[5], 1)],
        "outcome": ["accepted", "accepted", "accepted", "accepted", "refused", "accepted", "accepted"],
        "status": [0, 0, 0, 0, 0x0B, 0, 0], "message_id": ["A", "B", "C", "D", None, "E", "F"],
        "ts": [1e9] * 6 + [2e9]})
    events = _events(("receipt", "10", "DELIVRD", "33611111111", ""), ("receipt", "11", "DELIVRD", "33611111111", ""),
                     ("receipt", "12", "DELIVRD", "33622222222", ""), ("receipt", "13", "UNDELIV", "33622222222", ""),
                     ("receipt", "15", "ENROUTE", "33655555555", ""),
                     ("reply", None, None, "33611111111", "Super"), ("reply", None, None, "33611111111", "STOP"))
    statuses = recipient_statuses(plan, ledger, events, validity_seconds=48 * 3600, now=1.5e9)
    assert dict(statuses.select("ID_LINE", "STATUS_CODE").iter_rows()) == {
        1: 17,  # both parts delivered, then a STOP reply
        2: 20,  # one part undelivered: the message is undelivered
        3: 13,  # refused at submit for its destination
        4: 10,  # accepted, no final receipt within the validity period
        5: 24,  # accepted, only an intermediate receipt, still valid
        6: 1,  # not submitted yet
    }
    assert statuses.filter(pl.col("ID_LINE") == 1).row(0, named=True)["REPLY"] == "Super#STOP"
    assert statuses.filter(pl.col("ID_LINE") == 2).row(0, named=True)["DELIVERYDATE"] is None


def test_bl2_stop_numbers_are_the_e164_numbers_that_asked_to_stop():
    events = _events(("reply", None, None, "33611111111", "Arrêt"), ("reply", None, None, "33622222222", "Merci"),
                     ("reply", None, None, "+33611111111", "STOP"), ("reply", None, None, "33633333333", "START"))
    assert stop_numbers(events) == ["+33611111111"]


@pytest.mark.parametrize("text, expected", [
    ("id:77 stat:UNDELIV err:001", ("77", "UNDELIV", "001")),
    ("ID:77 SUB:001 DLVRD:000 SUBMIT DATE:2611241010 DONE DATE:2611241011 STAT:EXPIRED ERR:000 TEXT:x", ("77",
                                                                                                      "EXPIRED",
                                                                                                      "000")),
    ("stat:DELIVRD id:0000000077 err:0", ("0000000077", "DELIVRD", "0")),
])
def test_plus4_receipt_variants_from_other_smscs(text, expected):
    receipt = parse_receipt(text)
    assert (receipt.message_id, receipt.stat, receipt.err) == expected


def test_plus1_part_key_is_what_was_sent_not_where_it_sat_in_the_list():
    before = pl.DataFrame({"REF_LIST": ["l", "l"], "ID_LINE": [1, 2], "INT_MOBILE": ["+33611111111", "+33622222222"],
                           "MESSAGE": ["Bonjour Ann", "Bonjour Bob"], "STATUS_CODE": [None, None]})
    inserted = pl.DataFrame({"REF_LIST": ["l"] * 3, "ID_LINE": [1, 2, 3],
                             "INT_MOBILE": ["+33633333333", "+33611111111", "+33622222222"],
                             "MESSAGE": ["Bonjour Zoé", "Bonjour Ann", "Bonjour Bob"], "STATUS_CODE": [None] * 3})
    keys_before = dict(keyed_rows(before).select("INT_MOBILE", "MESSAGE_KEY").iter_rows())
    keys_after = dict(keyed_rows(inserted).select("INT_MOBILE", "MESSAGE_KEY").iter_rows())
    assert keys_after["+33611111111"] == keys_before["+33611111111"]
    assert keys_after["+33633333333"] not in keys_before.values()
    changed = before.with_columns(pl.Series("MESSAGE", ["Bonjour Ann, -20 %", "Bonjour Bob"]))
    assert keyed_rows(changed).get_column("MESSAGE_KEY")[0] != keys_before["+33611111111"]
    twice = pl.concat([before, before.head(1)])  # the same message to the same number twice: two keys
    assert keyed_rows(twice).get_column("MESSAGE_KEY").n_unique() == 3


def test_plus1_one_function_makes_and_splits_part_keys():
    message_key = keyed_rows(pl.DataFrame({"INT_MOBILE": ["+33611111111"], "MESSAGE": ["A"]}))["MESSAGE_KEY"][0]
    split = split_part_keys(pl.DataFrame({"key": [part_key(message_key, 3)]}))
    assert split.row(0, named=True) == {"key": part_key(message_key, 3), "MESSAGE_KEY": message_key, "PART": 3}


def test_plus1_a_ledger_keyed_by_list_line_is_refused_with_a_clear_message():
    with pytest.raises(LedgerFormatError, match="earlier smsflow"):
        split_part_keys(pl.DataFrame({"key": ["list.csv\x1f12\x1f1"]}))


def test_plus4_a_hex_id_above_2_63_has_no_integer_reading_and_still_matches_its_receipt():
    """One id expansion for the matcher and the warehouse: ids ≥ 2**63 do not fit BIGINT and must not crash."""
    keys = with_id_keys(pl.DataFrame({"message_id": ["FFFFFFFFFFFFFFFF", "18446744073709551615", "7FFFFFFFFFFFFFFF",
                                                     "000", ""]}))
    assert keys.select("id_text", "id_dec", "id_hex").rows() == [
        ("FFFFFFFFFFFFFFFF", None, None), ("18446744073709551615", None, None),
        ("7FFFFFFFFFFFFFFF", None, 2**63 - 1), ("0", 0, 0), (None, None, None)]
    parts = pl.DataFrame({"key": ["other", "mine"], "message_id": ["1", "ffffffffffffffff"]})
    receipts = pl.DataFrame({"message_id": ["FFFFFFFFFFFFFFFF"], "stat": ["DELIVRD"]})
    assert match_receipts(parts, receipts).get_column("key").to_list() == ["mine"]


@pytest.mark.parametrize("part_ids, receipt_ids", [
    (["A", "10", "1F"], ["10", "16", "31"]),  # hex ids, decimal receipts: A's receipt "10" spells part 10's id
    (["10", "16", "31"], ["A", "10", "1F"]),  # decimal ids, hex receipts: 16's receipt "10" spells part 10's id
])
def test_plus4_a_receipt_that_reads_as_another_parts_id_goes_to_its_own_part(part_ids, receipt_ids):
    """The id convention is the SMSC's, chosen once per campaign: each receipt goes to its own part, never to the
    part whose id it happens to spell (the same-text rule gave recipient 2 recipient 1's UNDELIV, left 1 at 24)."""
    plan, line = _one_part_plan(3)
    ledger = pl.DataFrame({"key": [part_key(line[1], 1), part_key(line[2], 1), part_key(line[3], 1)],
                           "outcome": ["accepted"] * 3, "status": [0] * 3, "message_id": part_ids,
                           "ts": [1e9] * 3})
    events = _events(("receipt", receipt_ids[1], "DELIVRD", "33611111111", ""),
                     ("receipt", receipt_ids[0], "UNDELIV", "33611111110", ""),
                     ("receipt", receipt_ids[2], "DELIVRD", "33611111112", ""))
    statuses = recipient_statuses(plan, ledger, events, now=1e9 + 60)
    assert statuses.select("ID_LINE", "STATUS_CODE").rows() == [(1, 20), (2, 16), (3, 16)]
    parts = ledger.select("key", "message_id")
    assert match_receipts(parts, events).get_column("key").to_list() == [
        part_key(line[2], 1), part_key(line[1], 1), part_key(line[3], 1)]


def test_plus4_receipts_that_fit_two_id_conventions_equally_match_as_written():
    """A tie between conventions (here one receipt, "10", that is part 10's id as written and part A's in decimal)
    goes to the id as written (most SMSCs write both alike), then to decimal receipts of hex ids."""
    parts = pl.DataFrame({"key": ["a", "ten", "twelve"], "message_id": ["A", "10", "12"]})
    assert match_receipts(parts, pl.DataFrame({"message_id": ["10"], "stat": ["DELIVRD"]}))["key"].to_list() == [
        "ten"]
    receipts = pl.DataFrame({"message_id": ["10", "18"], "stat": ["DELIVRD", "DELIVRD"]})  # 18 = 0x12
    assert match_receipts(parts, receipts)["key"].to_list() == ["a", "twelve"]


def _one_part_plan(lines: int) -> tuple[pl.DataFrame, dict]:
    plan = pl.DataFrame({"REF_LIST": ["l"] * lines, "ID_LINE": list(range(1, lines + 1)),
                         "INT_MOBILE": [f"+3361111111{i}" for i in range(lines)], "PARTS": [1] * lines,
                         "MESSAGE": ["z"] * lines})
    return plan, dict(keyed_rows(plan).select("ID_LINE", "MESSAGE_KEY").iter_rows())


def test_plus4_a_receipt_state_not_in_the_table_leaves_the_part_sent_not_delivered():
    plan, line = _one_part_plan(1)
    ledger = pl.DataFrame({"key": [part_key(line[1], 1)], "outcome": ["accepted"], "status": [0],
                           "message_id": ["A"], "ts": [1e9]})
    statuses = recipient_statuses(plan, ledger, _events(("receipt", "A", "FOOBAR", "33611111110", "")),
                                  now=1e9 + 60)
    assert statuses.get_column("STATUS_CODE").to_list() == [24]


def test_plus4_an_intermediate_receipt_past_the_validity_is_no_final_receipt_10():
    plan, line = _one_part_plan(1)
    ledger = pl.DataFrame({"key": [part_key(line[1], 1)], "outcome": ["accepted"], "status": [0],
                           "message_id": ["A"], "ts": [1e9]})
    events = _events(("receipt", "A", "ENROUTE", "33611111110", ""))
    assert recipient_statuses(plan, ledger, events, now=1e9 + 60)["STATUS_CODE"].to_list() == [24]
    assert recipient_statuses(plan, ledger, events, now=1e9 + 49 * 3600)["STATUS_CODE"].to_list() == [10]


def test_send7_held_only_while_the_message_is_still_1():
    """A held part whose recipient then replied STOP is 17, not held: HELD and REASON say why a message is 1."""
    plan, line = _one_part_plan(2)
    ledger = pl.DataFrame({"key": [part_key(line[1], 1), part_key(line[2], 1)], "outcome": ["held", "held"],
                           "status": [None, None], "message_id": [None, None], "ts": [1e9, 1e9]})
    statuses = recipient_statuses(plan, ledger, _events(("reply", None, None, "33611111110", "STOP")), now=1e9)
    assert statuses.select("ID_LINE", "STATUS_CODE", "HELD", "REASON").rows() == [
        (1, 17, False, None), (2, 1, True, "in flight when the sender stopped")]


def test_plus4_statuses_are_for_sendable_rows_only():
    plan, _ = _one_part_plan(2)
    plan = plan.with_columns(pl.Series("STATUS_CODE", [None, 4], dtype=pl.Int32))
    statuses = recipient_statuses(plan, pl.DataFrame(schema={"key": pl.String, "outcome": pl.String,
                                                             "status": pl.Int64, "message_id": pl.String,
                                                             "ts": pl.Float64}), _events())
    assert statuses.select("ID_LINE", "STATUS_CODE").rows() == [(1, 1)]


@pytest.mark.parametrize("text", ["STOP", "Arrêt !", "s.t.o.p", "Désabonner", "Ｓｔｏｐ", "Stop ß", "stopp", "Merci"])
def test_bl2_the_blacklist_and_status_17_agree_on_every_reply(text):
    """BL-2: a number joins the blacklist exactly when its message becomes 17 (one STOP rule)."""
    plan, _ = _one_part_plan(1)
    events = _events(("reply", None, None, "33611111110", text))
    empty_ledger = pl.DataFrame(schema={"key": pl.String, "outcome": pl.String, "status": pl.Int64,
                                        "message_id": pl.String, "ts": pl.Float64})
    seventeen = recipient_statuses(plan, empty_ledger, events)["STATUS_CODE"].to_list() == [17]
    assert (stop_numbers(events) == ["+33611111110"]) == seventeen == is_stop(text)


@pytest.mark.parametrize("replies, status", [(["START"], 16), (["STOP", "START"], 17), (["Start !", "Merci"], 16)])
def test_plus6_a_start_reply_is_kept_but_is_not_a_stop(replies, status):
    """PLUS-6: START re-subscribes in the store; in the campaign a delivered message stays delivered (16), and a
    STOP already given keeps its 17 (BL-2: the message asked to stop); the reply is kept (BL-3)."""
    plan, line = _one_part_plan(1)
    ledger = pl.DataFrame({"key": [part_key(line[1], 1)], "outcome": ["accepted"], "status": [0],
                           "message_id": ["A"], "ts": [1e9]})
    events = _events(("receipt", "A", "DELIVRD", "33611111110", ""),
                     *(("reply", None, None, "33611111110", text) for text in replies))
    row = recipient_statuses(plan, ledger, events, now=1e9 + 60).row(0, named=True)
    assert (row["STATUS_CODE"], row["REPLY"]) == (status, "#".join(replies))
