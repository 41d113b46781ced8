"""PLUS-3: data contracts gate the send. Great Expectations checks the plan before anything goes out.

Expectations (each named in the error when it fails), a second line of defence behind the plan's own rules:
- the share of invalid numbers is under the campaign's threshold (spec `contracts.max_invalid_share`, 20 %);
- every row to be sent has an E.164 number (NUM-1);
- every row to be sent has between 1 and the maximum parts (ENC-5);
- a marketing message carries the STOP mention (MSG-2), on every message to be sent;
- at least one row can be sent.
The checks on rows to be sent read columns that are null for the other rows (expectations skip nulls).
Rows that cannot be sent are written to `quarantine.csv` next to the plan, with their status: never silently
dropped. Great Expectations takes seconds to import, so it is imported inside `check_plan` only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.layout import CampaignPaths, read_summary

STOP_REGEX = r"(?i)STOP\s+(?:au\s+)?36184"
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"


class ContractError(ValueError):
    """One or more expectations failed: the send does not start."""

    def __init__(self, failures: list[str]):
        self.failures = failures
        super().__init__("the plan breaks its data contract [PLUS-3]: " + "; ".join(failures))


@dataclass
class ContractResult:
    checked: list[str]
    quarantine: Path
    quarantined: int


def write_quarantine(plan_dir: Path) -> tuple[Path, int]:
    """The rows that cannot be sent, with their status and original columns, as CSV beside the plan."""
    paths = CampaignPaths.of_plan(plan_dir)
    rows = pl.read_parquet(paths.recipients).filter(pl.col("STATUS_CODE").is_not_null())
    rows = rows.drop("MESSAGE", "ENCODING", "PARTS")
    path = paths.quarantine
    rows.write_csv(path, separator=";", include_bom=True)
    return path, rows.height


def check_plan(plan_dir: Path, max_invalid_share: float = 0.2) -> ContractResult:
    """Validate the plan against its contract; raise ContractError naming every failed expectation."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    summary = read_summary(plan_dir)
    plan = pl.read_parquet(CampaignPaths.of_plan(plan_dir).recipients,
                           columns=["INT_MOBILE", "MF_VALID", "MESSAGE", "PARTS", "STATUS_CODE"])
    sendable = pl.col("STATUS_CODE").is_null()
    plan = plan.select(
        "MF_VALID", sendable.alias("SENDABLE"),
        *(pl.when(sendable).then(pl.col(name)).alias(f"SENDABLE_{name}") for name in ("INT_MOBILE", "PARTS",
                                                                                     "MESSAGE")))
    expectations = {
        f"invalid numbers under {max_invalid_share:.0%}": gx.expectations.ExpectColumnValuesToBeInSet(
            column="MF_VALID", value_set=[True], mostly=1 - max_invalid_share),
        "every number to be sent in E.164": gx.expectations.ExpectColumnValuesToMatchRegex(
            column="SENDABLE_INT_MOBILE", regex=E164_REGEX),
        f"parts within the maximum ({summary.max_parts})": gx.expectations.ExpectColumnValuesToBeBetween(
            column="SENDABLE_PARTS", min_value=1, max_value=summary.max_parts),
        "at least one sendable row": gx.expectations.ExpectColumnDistinctValuesToContainSet(
            column="SENDABLE", value_set=[True]),
    }
    if summary.campaign.type == "marketing":
        expectations["STOP 36184 mention in every marketing message"] = (
            gx.expectations.ExpectColumnValuesToMatchRegex(column="SENDABLE_MESSAGE", regex=STOP_REGEX))
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("plan").add_dataframe_asset("recipients")
    batch = asset.add_batch_definition_whole_dataframe("whole plan").get_batch(
        batch_parameters={"dataframe": plan.to_pandas()})
    suite = context.suites.add(gx.ExpectationSuite(name="plan_contract"))
    for expectation in expectations.values():
        suite.add_expectation(expectation)
    results = batch.validate(suite, result_format="SUMMARY")
    failures = []
    for name, result in zip(expectations, results.results):
        if not result.success:
            observed = result.result.get("unexpected_percent", result.result.get("observed_value"))
            failures.append(f"{name} (observed: {observed})")
    quarantine, count = write_quarantine(plan_dir)
    if failures:
        raise ContractError(failures)
    return ContractResult(list(expectations), quarantine, count)
