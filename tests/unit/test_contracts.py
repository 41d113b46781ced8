"""PLUS-3: Great Expectations gates the send; rows that cannot be sent go to quarantine.csv."""

from __future__ import annotations

import csv

import pytest
from helpers import write_list, write_spec

from pipelines.contracts import ContractError, check_plan
from pipelines.plan import plan_file


def test_plus3_contract_passes_and_quarantines_unsendable_rows(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0611111111;Ann\nabc;Zoé\n0622222222;Léo\n"
                                 "0633333333;Lou\n0644444444;Max\n")
    plan = plan_file(write_spec(bucket, lists=["a.csv"], type="marketing", message="Promo ${Prénom} STOP 36184"),
                     bucket / "plan").out_dir
    result = check_plan(plan, max_invalid_share=0.2)
    assert "STOP 36184 mention in every marketing message" in result.checked
    assert result.verdict == ("Contract kept: invalid numbers 16.7 % (up to 20 % allowed), 4 rows to send, each with "
                              "an E.164 number and its parts within the maximum, the STOP 36184 mention in every "
                              "message; 2 rows that cannot be sent in quarantine.csv [PLUS-3]")
    rows = list(csv.DictReader((plan / "quarantine.csv").read_text(encoding="utf-8-sig").splitlines(),
                               delimiter=";"))
    assert [(r["ID_LINE"], r["STATUS_CODE"], r["Prénom"]) for r in rows] == [("2", "4", "Ann"), ("3", "2", "Zoé")]


def test_plus3_failed_expectations_are_named(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\nabc;Ann\n0123456789;Zoé\n")
    plan = plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "plan").out_dir
    with pytest.raises(ContractError) as error:
        check_plan(plan, max_invalid_share=0.2)
    assert error.value.failures == ["invalid numbers 100 % over the 20 % allowed (contracts.max_invalid_share)",
                                    "no row can be sent (every row has a status: see quarantine.csv)"]
    assert str(error.value) == ("the plan breaks its data contract: invalid numbers 100 % over the 20 % allowed "
                                "(contracts.max_invalid_share); no row can be sent (every row has a status: see "
                                "quarantine.csv) [PLUS-3]")
    assert error.value.verdict.startswith("Contract broken: invalid numbers 100 % over the 20 % allowed")
    assert (plan / "quarantine.csv").is_file() and error.value.quarantined == 2


def test_plus3_every_expectation_can_fail_on_a_corrupted_plan(bucket):
    """A plan whose rows to be sent break NUM-1, ENC-5 and MSG-2 is stopped, each expectation named."""
    import polars as pl

    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Léo\n0633333333;Lou\n")
    plan = plan_file(write_spec(bucket, lists=["a.csv"], type="marketing", message="Promo ${Prénom} STOP 36184"),
                     bucket / "plan").out_dir
    recipients = pl.read_parquet(plan / "recipients.parquet")
    recipients.with_columns(
        INT_MOBILE=pl.when(pl.col("ID_LINE") == 1).then(pl.lit("0611111111")).otherwise(pl.col("INT_MOBILE")),
        PARTS=pl.when(pl.col("ID_LINE") == 2).then(pl.lit(9, dtype=pl.Int32)).otherwise(pl.col("PARTS")),
        MESSAGE=pl.when(pl.col("ID_LINE") == 3).then(pl.lit("Promo Lou")).otherwise(pl.col("MESSAGE")),
    ).write_parquet(plan / "recipients.parquet")
    with pytest.raises(ContractError) as error:
        check_plan(plan, max_invalid_share=0.2)
    assert error.value.failures == [
        "1 number to be sent is not in E.164 (such as 0611111111) [NUM-1]",
        "1 message to be sent has more than the 6 parts allowed (9) [ENC-5]",
        "1 marketing message to be sent lacks the opt-out mention 'STOP 36184' [MSG-2]"]


def test_plus3_great_expectations_says_only_warnings_and_shows_no_progress_bar(bucket, caplog, capfd):
    import logging

    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    plan = plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "plan").out_dir
    caplog.set_level(logging.DEBUG)
    check_plan(plan)
    assert [record.getMessage() for record in caplog.records
            if record.name.startswith("great_expectations") and record.levelno < logging.WARNING] == []
    assert "Calculating Metrics" not in capfd.readouterr().err
