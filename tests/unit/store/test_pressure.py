"""PLUS-7 in the store: the sends of an account's campaigns and the numbers at its frequency cap (both backends)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from helpers import write_list, write_spec
from sqlalchemy import func, select

from pipelines.account import prepare_account
from pipelines.dlr import keyed_rows, part_key
from pipelines.layout import CampaignPaths
from pipelines.plan import plan_file
from pipelines.spec import load_spec
from pipelines.status import FREQUENCY_CAPPED
from pipelines.store import set_account
from pipelines.store.pressure import capped_numbers, record_campaign_sends, record_sends
from pipelines.store.schema import sends

DAY1 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
CONTACTS = "Mobile;Prénom\n0611111111;Ann\n0622222222;Bob\n0633333333;Cy\n"


def numbers(*values: str) -> pl.Series:
    return pl.Series(values, dtype=pl.String)


def test_plus7_record_sends_is_idempotent_per_campaign_and_number(store):
    assert record_sends(store, "default", "c1", "marketing", numbers("+33611111111", "+33622222222"), at=DAY1) == 2
    assert record_sends(store, "default", "c1", "marketing", numbers("+33622222222", "+33633333333",
                                                                     "+33633333333"), at=DAY1) == 1
    assert record_sends(store, "default", "c2", "marketing", numbers("+33611111111"), at=DAY1) == 1
    with store.begin() as connection:
        assert connection.execute(select(func.count()).select_from(sends)).scalar() == 4


def test_plus7_capped_numbers_count_marketing_sends_in_the_rolling_window(store):
    set_account(store, "default", frequency_cap=2, frequency_hours=24)
    record_sends(store, "default", "m1", "marketing", numbers("+33611111111", "+33622222222"), at=DAY1)
    record_sends(store, "default", "m2", "marketing", numbers("+33611111111"), at=DAY1 + timedelta(hours=5))
    record_sends(store, "default", "n1", "notification", numbers("+33622222222"), at=DAY1 + timedelta(hours=5))
    at = DAY1 + timedelta(hours=6)
    assert capped_numbers(store, "default", now=at).to_list() == ["+33611111111"]  # Bob's notification is exempt
    assert capped_numbers(store, "default", now=at, exclude_campaign="m2").to_list() == []
    assert capped_numbers(store, "default", now=DAY1 + timedelta(hours=24, minutes=1)).to_list() == []  # m1 aged out
    set_account(store, "default", frequency_cap=None)
    assert capped_numbers(store, "default", now=at).is_empty()  # no cap: nobody is capped


def test_plus7_a_time_without_zone_is_refused(store):
    with pytest.raises(ValueError, match="no time zone"):
        record_sends(store, "default", "c1", "marketing", numbers("+33611111111"), at=datetime(2026, 3, 2))


def planned(store, bucket: Path, campaign: str, now: datetime, **fields) -> Path:
    """A campaign on the contacts, planned with what the store says at `now` (prepare_account's inputs)."""
    write_list(bucket / "list.csv", CONTACTS)
    spec_path = write_spec(bucket / campaign, lists=["../list.csv"], **fields)
    prepared = prepare_account(store, load_spec(spec_path), now=now)
    return plan_file(spec_path, bucket / "campaigns" / campaign / "plan", inputs=prepared.inputs,
                     spec=prepared.spec).out_dir


def answered_by_the_smsc(plan_dir: Path, at: datetime, refused: tuple[str, ...] = ()) -> None:
    """A send ledger where the SMSC accepted every sendable part of the plan at `at`, but those to `refused`."""
    keys = keyed_rows(pl.read_parquet(plan_dir / "recipients.parquet")).get_column("MESSAGE_KEY").to_list()
    ledger = CampaignPaths.of_plan(plan_dir).ledger
    ledger.mkdir(parents=True)
    (ledger / "batch-1.jsonl").write_text("".join(
        json.dumps({"key": part_key(key, 1), "event": "refused" if key.split("\x1f")[0] in refused else "accepted",
                    "status": 88 if key.split("\x1f")[0] in refused else 0, "message_id": f"M{index}",
                    "ts": at.timestamp()}) + "\n" for index, key in enumerate(keys)), encoding="utf-8")


def statuses(plan_dir: Path) -> dict[str, int | None]:
    return dict(pl.read_parquet(plan_dir / "recipients.parquet").select("INT_MOBILE", "STATUS_CODE").iter_rows())


MARKETING = {"type": "marketing", "message": "Promo ${Prénom} STOP 36184"}


def test_plus7_a_second_marketing_campaign_within_24h_gives_the_first_ones_numbers_status_40(store, bucket):
    """Cap 1 per 24 h: the first campaign reached Ann and Bob (Cy was not accepted); the second, 3 hours later,
    gives them status 40 and sends to Cy; a notification then is exempt; a day later they are sendable again."""
    set_account(store, "default", frequency_cap=1, frequency_hours=24)
    first = planned(store, bucket, "m1", DAY1, **MARKETING)
    assert statuses(first) == dict.fromkeys(("+33611111111", "+33622222222", "+33633333333"))
    answered_by_the_smsc(first, DAY1 + timedelta(minutes=1), refused=("+33633333333",))
    assert record_campaign_sends(store, first) == 2
    assert record_campaign_sends(store, first) == 0  # the end of a resumed send records nobody twice

    later = DAY1 + timedelta(hours=3)
    second = planned(store, bucket, "m2", later, **MARKETING)
    assert statuses(second) == {"+33611111111": FREQUENCY_CAPPED, "+33622222222": FREQUENCY_CAPPED,
                                "+33633333333": None}
    notification = planned(store, bucket, "n1", later, type="notification", message="Code ${Prénom}")
    assert set(statuses(notification).values()) == {None}

    next_day = DAY1 + timedelta(hours=24, minutes=2)
    assert set(statuses(planned(store, bucket, "m3", next_day, **MARKETING)).values()) == {None}
