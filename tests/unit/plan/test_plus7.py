"""PLUS-7 in the plan: the account's frequency cap (status 40) and the campaign's holdout group (status 41)."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
from helpers import mobiles, write_list, write_spec

from pipelines.numbers import normalise_numbers
from pipelines.plan import io as plan_io
from pipelines.plan import plan_file
from pipelines.plan.batch import plan_batch, prepare_batch
from pipelines.plan.context import Context
from pipelines.plan.rules import held_out, number_key
from pipelines.plan.summary import summary as plan_summary
from pipelines.render import compile_template
from pipelines.spec import SpecError, load_spec
from pipelines.status import FREQUENCY_CAPPED, HOLDOUT

MARKETING = {"type": "marketing", "message": "Promo ${Prénom} STOP 36184"}


def keys(*numbers: str) -> pl.Series:
    """The number keys the account store hands the plan (rules.number_key of E.164)."""
    return normalise_numbers(pl.Series(numbers)).select(number_key()).to_series().alias("key")


def plan_with_cap(bucket, capped: pl.Series, **fields):
    """The plan stage's own steps (sources, Context, prepare_batch, plan_batch, summary) with `capped` given,
    as stage.plan_campaign does once it passes the store's capped numbers."""
    spec = load_spec(write_spec(bucket, **fields))
    sources = plan_io.sources(spec, bucket)
    columns = plan_io.output_columns(sources)
    template = compile_template(spec.message, list(dict.fromkeys(f for s in sources for f in s.fields)))
    context = Context(spec, template, plan_io.load_blacklists(spec, bucket), capped=capped)
    frames = [plan_batch(prepare_batch(frame, source, context), source, context, columns)
              for source in sources for frame in source.batches()]
    return pl.concat(frames), plan_summary(context, sources, bucket)


def test_plus7_marketing_rows_at_the_frequency_cap_get_status_40_unbilled(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Bob\n06 33 33 33 33;Cy\n")
    frame, summary = plan_with_cap(bucket, keys("+33622222222", "0633333333", "0699999999"), lists=["a.csv"],
                                   **MARKETING)
    assert frame.select("STATUS_CODE", "PARTS").rows() == [(None, 1), (40, 0), (40, 0)]
    assert frame.get_column("STATUS_TEXT").to_list()[1] == "Pression commerciale : plafond de fréquence atteint"
    assert frame.get_column("MESSAGE").to_list() == ["Promo Ann STOP 36184", None, None]
    assert (summary.capped, summary.sendable, summary.credits) == (2, 1, 1)
    assert summary.status_counts == {"0": 1, str(FREQUENCY_CAPPED): 2}


def test_plus7_notifications_are_exempt_from_the_frequency_cap(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Bob\n")
    frame, summary = plan_with_cap(bucket, keys("0611111111", "0622222222"), lists=["a.csv"],
                                   type="notification", message="Code ${Prénom}")
    assert frame.get_column("STATUS_CODE").to_list() == [None, None]
    assert summary.capped == 0


def test_plus7_cap_comes_after_duplicates_and_blacklists_before_message_errors(bucket):
    write_list(bucket / "own.txt", "0611111111\n")
    rows = ["0611111111;Ann",   # 14: blacklisted and capped, the blacklist wins
            "0622222222;Bob",   # 40
            "0622222222;Bob",   # 4: a duplicate, capped or not
            "0633333333;",      # 40: capped before the empty field (5)
            "0644444444;",      # 5
            "abc;Zoé"]          # 2
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "\n".join(rows) + "\n")
    frame, _ = plan_with_cap(bucket, keys("0611111111", "0622222222", "0633333333"), lists=["a.csv"],
                             account={"blacklists": {"own": "own.txt"}}, **MARKETING)
    assert frame.get_column("STATUS_CODE").to_list() == [14, 40, 4, 40, 5, 2]


def test_plus7_an_empty_cap_changes_nothing(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    frame, summary = plan_with_cap(bucket, pl.Series("key", [], dtype=pl.UInt64), lists=["a.csv"], **MARKETING)
    assert frame.get_column("STATUS_CODE").to_list() == [None] and summary.capped == 0


def _splitmix64_bucket(key: int, seed: str) -> int:
    """The holdout bucket of a number key, written independently of Polars (the documented algorithm)."""
    mask = (1 << 64) - 1
    z = (key ^ int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest(), "little"))
    z = (z + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) % 10_000


def test_plus7_holdout_draw_is_a_stable_hash_of_seed_and_number_not_a_polars_version():
    numbers = [33600000000 + 7919 * i for i in range(2_000)]
    frame = pl.DataFrame({"key": pl.Series(numbers, dtype=pl.UInt64)})
    drawn = frame.select(held_out(pl.col("key"), 12.5, "Soldes")).to_series().to_list()
    assert drawn == [_splitmix64_bucket(n, "Soldes") < 1_250 for n in numbers]
    assert 0.10 < sum(drawn) / len(drawn) < 0.15
    assert frame.select(held_out(pl.col("key"), 0, "Soldes")).to_series().sum() == 0
    nulls = pl.DataFrame({"key": pl.Series([None, 33611111111], dtype=pl.UInt64)})
    assert nulls.select(held_out(pl.col("key"), 99.99, "x")).to_series().to_list()[0] is False


def test_plus7_holdout_keeps_a_reproducible_share_unsent_with_status_41_and_no_credits(bucket):
    numbers = mobiles(2_000)
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "".join(f"{n};P{i}\n" for i, n in enumerate(numbers)))
    spec = dict(lists=["a.csv"], options={"holdout": 10}, **MARKETING)
    first = plan_file(write_spec(bucket, **spec), bucket / "plan")
    frame = pl.read_parquet(first.recipients)
    held = frame.filter(pl.col("STATUS_CODE") == HOLDOUT)
    assert 150 < held.height < 250  # 10 % of 2 000, drawn
    assert held.get_column("STATUS_TEXT").unique().to_list() == ["Groupe témoin, non envoyé"]
    assert held.get_column("PARTS").sum() == 0 and held.get_column("MESSAGE").null_count() == held.height
    summary = first.plan_summary
    assert (summary.holdout, summary.holdout_percent) == (held.height, 10)
    assert summary.sendable == summary.credits == 2_000 - held.height

    # Re-planned, even with the list in another order: the same numbers are held out.
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "".join(f"{n};P\n" for n in reversed(numbers)))
    again = pl.read_parquet(plan_file(write_spec(bucket, **spec), bucket / "plan").recipients)
    assert set(again.filter(pl.col("STATUS_CODE") == HOLDOUT).get_column("INT_MOBILE")) == \
        set(held.get_column("INT_MOBILE"))
    # Another seed draws another group of about the same size.
    other = pl.read_parquet(plan_file(write_spec(bucket, **{**spec, "options": {"holdout": 10, "holdout_seed": "B"}}),
                                      bucket / "plan").recipients).filter(pl.col("STATUS_CODE") == HOLDOUT)
    assert set(other.get_column("INT_MOBILE")) != set(held.get_column("INT_MOBILE"))
    assert 150 < other.height < 250


def test_plus7_holdout_is_drawn_among_sendable_rows_before_credits(bucket):
    numbers = mobiles(400)
    rows = [f"{n};P\n" for n in numbers] + [f"{n};P\n" for n in numbers[:50]] + ["abc;P\n"] * 20
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "".join(rows))
    spec = dict(lists=["a.csv"], options={"holdout": 25}, **MARKETING)
    frame = pl.read_parquet(plan_file(write_spec(bucket, **spec), bucket / "plan").recipients)
    codes = frame.get_column("STATUS_CODE").to_list()
    assert codes[400:] == [4] * 50 + [2] * 20  # duplicates and invalid rows keep their status
    held = codes[:400].count(HOLDOUT)
    assert 60 < held < 140
    # With credits for 100 messages, held-out rows spend none: exactly 100 rows are sent, the rest are 8.
    limited = pl.read_parquet(plan_file(write_spec(bucket, account={"credits": 100}, **spec),
                                        bucket / "plan").recipients)
    limited_codes = limited.get_column("STATUS_CODE").to_list()[:400]
    assert limited_codes.count(HOLDOUT) == held and limited_codes.count(None) == 100
    assert limited_codes.count(8) == 400 - held - 100


@pytest.mark.parametrize("holdout", [100, -1, 250])
def test_plus7_holdout_is_a_percent_below_100(bucket, holdout):
    with pytest.raises(SpecError, match="holdout"):
        load_spec(write_spec(bucket, options={"holdout": holdout}, **MARKETING))
