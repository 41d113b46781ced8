"""The plan's pure column rules on small frames: NUM-3 duplicates, the status precedence, ENC-2/ENC-5 late
statuses, SEND-5 credits."""

from __future__ import annotations

import polars as pl

from pipelines.layout import PLAN_COLUMNS, original_name
from pipelines.plan.rules import (
    bill, duplicate, late_status, number_key, presend_status, seen_before, status_texts,
)
from pipelines.render import empty_column

KEY = pl.col("_key")


def keys(*numbers: int | None) -> pl.Series:
    return pl.Series("key", list(numbers), dtype=pl.UInt64)


def test_num1_number_key_is_the_e164_digits_as_an_integer():
    frame = pl.DataFrame({"INT_MOBILE": ["+33612345678", "+32470123456", None]})
    assert frame.select(number_key()).to_series().to_list() == [33612345678, 32470123456, None]


def test_num3_seen_before_keeps_only_this_batchs_keys_among_the_earlier_ones():
    earlier = keys(1, 2, 3)
    assert seen_before(keys(3, None, 4, 3), earlier).to_list() == [3]
    assert seen_before(keys(1), keys()).to_list() == []


def test_num3_the_first_occurrence_stays_later_copies_and_earlier_batches_are_duplicates():
    frame = pl.DataFrame({"_key": keys(7, 8, 7, None, None, 9)})
    flags = frame.select(duplicate(KEY, keys(9))).to_series().to_list()
    assert flags == [False, False, True, False, False, True]  # no number (null) is never a duplicate


def test_num1_num2_num3_bl1_msg4_status_precedence_first_that_applies_wins():
    empty = empty_column("Prénom")
    frame = pl.DataFrame({
        "MF_VALID": [False, True, True, True, True, True, True, True],
        "MF_ALLOW": [False, False, True, True, True, True, True, True],
        "_key": keys(None, 10, 11, 11, 22, 33, 44, 55),
        empty: [True, True, True, True, True, True, True, False],
    })
    blacklists = {14: keys(10, 11), 15: keys(22), 18: keys(22, 33)}  # own, global, client (BL-1)
    is_duplicate = duplicate(KEY, keys())
    statuses = frame.select(presend_status(KEY, is_duplicate, blacklists, [empty])).to_series()
    # invalid; not allowed before blacklisted; own list; duplicate before the blacklist; global before client;
    # a blacklist before an empty field; the empty field (MSG-4); sendable.
    assert statuses.to_list() == [2, 3, 14, 4, 15, 18, 5, None]
    assert statuses.dtype == pl.Int32
    lenient = frame.select(presend_status(KEY, is_duplicate, {}, [])).to_series()  # allow_empty_fields, no lists
    assert lenient.to_list() == [2, 3, None, 4, None, None, None, None]


def test_enc2_enc5_late_status_ucs2_refused_before_too_long():
    composed = pl.DataFrame({"ENCODING": ["GSM7", "UCS2", "UCS2", "GSM7"], "PARTS": [1, 1, 7, 7]})
    assert composed.select(late_status(False, 6)).to_series().to_list() == [None, 6, 6, 7]
    assert composed.select(late_status(True, 6)).to_series().to_list() == [None, None, 7, 7]


def composed(statuses: list[int | None], parts: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"STATUS_CODE": statuses, "PARTS": parts}, schema={"STATUS_CODE": pl.Int32, "PARTS": pl.Int32})


def test_send5_credits_spent_in_list_order_then_status_8_across_batches():
    first, spent = bill(composed([None, 7, None, None, None], [1, 3, 2, 1, 1]), 0, 3)
    # A row already refused (7) spends nothing; 1 + 2 fill the balance of 3; the next rows get status 8.
    assert first.get_column("STATUS_CODE").to_list() == [None, 7, None, 8, 8]
    assert first.columns == ["STATUS_CODE", "PARTS"]
    second, spent = bill(composed([None], [1]), spent, 3)
    assert second.get_column("STATUS_CODE").to_list() == [8]
    empty, still = bill(composed([], []), spent, 3)
    assert empty.height == 0 and still == spent


def test_send5_no_balance_means_unlimited_and_the_spent_parts_still_add_up():
    rows, spent = bill(composed([None, None, 6], [2, 3, 1]), 10, None)
    assert rows.get_column("STATUS_CODE").to_list() == [None, None, 6]
    assert spent == 15


def test_rep2_status_texts_name_each_code_and_leave_sendable_rows_blank():
    texts = pl.DataFrame({"STATUS_CODE": [None, 2, 4, 8]}, schema={"STATUS_CODE": pl.Int32}).select(
        status_texts(pl.col("STATUS_CODE"))).to_series().to_list()
    assert texts[0] is None and texts[1] == "Numéro mal formaté" and texts[2] == "Doublons"
    assert texts[3] and texts[3] not in texts[:3]


def test_list3_a_list_column_named_like_a_plan_column_gets_a_suffix():
    assert original_name("STATUS_CODE") == "STATUS_CODE (list)" and "STATUS_CODE" in PLAN_COLUMNS
    assert original_name("Prénom") == "Prénom"
