"""PLUS-3: data contracts gate the send. Great Expectations checks the plan before anything goes out.

Expectations (each named in the error when it fails), a second line of defence behind the plan's own rules:
- the share of invalid numbers is under the campaign's threshold (spec `contracts.max_invalid_share`, 20 %);
- every row to be sent has an E.164 number (NUM-1);
- every row to be sent has between 1 and the maximum parts (ENC-5);
- a marketing message carries the STOP mention (MSG-2), on every message to be sent;
- at least one row can be sent.
The checks on rows to be sent read columns that are null for the other rows (expectations skip nulls).
Rows that cannot be sent are written to `quarantine.csv` next to the plan, with their status: never silently
dropped. The verdict is one line, in words (observed and allowed): "Contract kept: …" or "Contract broken: …";
Great Expectations' own logging stays at warnings and its progress bars off, so a run's log is not buried in
them. It takes seconds to import, so it is imported inside `check_plan` only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.layout import CampaignPaths, read_summary

STOP_REGEX = r"(?i)STOP\s+(?:au\s+)?36184"
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"


SILENCED = "great_expectations"  # its loggers say WARNING and above: a run's log starts with the verdict


def _percent(share: float) -> str:
    """A share in words: 0.4 → "40 %", 1/3 → "33.3 %"."""
    return f"{share * 100:.1f}".removesuffix(".0") + " %"


class ContractError(ValueError):
    """One or more expectations failed: the send does not start. Each failure says what was observed and what
    the contract allows, in words; `verdict` is the one line a run's log starts with."""

    def __init__(self, failures: list[str], quarantine: Path | None = None, quarantined: int = 0):
        self.failures, self.quarantine, self.quarantined = failures, quarantine, quarantined
        super().__init__("the plan breaks its data contract: " + "; ".join(failures) + " [PLUS-3]")

    @property
    def verdict(self) -> str:
        return "Contract broken: " + "; ".join(self.failures) + " [PLUS-3]"


@dataclass
class ContractResult:
    """A plan that kept its contract: what was checked, the figures observed, and its quarantine.csv."""

    checked: list[str]
    quarantine: Path
    quarantined: int
    invalid_share: float = 0.0
    max_invalid_share: float = 0.2
    sendable: int = 0

    @property
    def verdict(self) -> str:
        stop = ", the STOP 36184 mention in every message" if any("STOP" in name for name in self.checked) else ""
        return (f"Contract kept: invalid numbers {_percent(self.invalid_share)} (up to "
                f"{_percent(self.max_invalid_share)} allowed), {_rows(self.sendable, 'row', 'rows')} to send, each "
                f"with an E.164 number and its parts within the maximum{stop}; "
                f"{_rows(self.quarantined, 'row that cannot be sent', 'rows that cannot be sent')} in "
                f"{self.quarantine.name} [PLUS-3]")


def _quiet_great_expectations() -> None:
    """Great Expectations' own logging at WARNING, set before it is imported (its loggers inherit it) and again
    after (one of its modules sets its logger to INFO when imported)."""
    logging.getLogger(SILENCED).setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(SILENCED + "."):
            logging.getLogger(name).setLevel(logging.NOTSET)  # inherit the WARNING above


def write_quarantine(plan_dir: Path) -> tuple[Path, int]:
    """The rows that cannot be sent, with their status and original columns, as CSV beside the plan."""
    paths = CampaignPaths.of_plan(plan_dir)
    rows = pl.read_parquet(paths.recipients).filter(pl.col("STATUS_CODE").is_not_null())
    rows = rows.drop("MESSAGE", "ENCODING", "PARTS")
    path = paths.quarantine
    rows.write_csv(path, separator=";", include_bom=True)
    return path, rows.height


def _failure(name: str, result: dict, max_invalid_share: float, max_parts: int) -> str:
    """A failed expectation in words: what was observed, what the contract allows."""
    count = result.get("unexpected_count") or 0
    examples = ", ".join(str(value) for value in (result.get("partial_unexpected_list") or [])[:3])
    if name == "invalid":
        share = (result.get("unexpected_percent") or 0) / 100
        return (f"invalid numbers {_percent(share)} over the {_percent(max_invalid_share)} allowed "
                "(contracts.max_invalid_share)")
    if name == "e164":
        return f"{_rows(count, 'number to be sent is', 'numbers to be sent are')} not in E.164 (such as {examples}) " \
               "[NUM-1]"
    if name == "parts":
        return f"{_rows(count, 'message to be sent has', 'messages to be sent have')} more than the {max_parts} " \
               f"parts allowed ({examples}) [ENC-5]"
    if name == "sendable":
        return "no row can be sent (every row has a status: see quarantine.csv)"
    return f"{_rows(count, 'marketing message to be sent lacks', 'marketing messages to be sent lack')} the " \
           "opt-out mention 'STOP 36184' [MSG-2]"


def _rows(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def check_plan(plan_dir: Path, max_invalid_share: float = 0.2) -> ContractResult:
    """Validate the plan against its contract, after writing quarantine.csv; raise ContractError naming every
    failed expectation with what was observed and what is allowed."""
    _quiet_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_great_expectations()
    summary = read_summary(plan_dir)
    plan = pl.read_parquet(CampaignPaths.of_plan(plan_dir).recipients,
                           columns=["INT_MOBILE", "MF_VALID", "MESSAGE", "PARTS", "STATUS_CODE"])
    sendable = pl.col("STATUS_CODE").is_null()
    plan = plan.select(
        "MF_VALID", sendable.alias("SENDABLE"),
        *(pl.when(sendable).then(pl.col(name)).alias(f"SENDABLE_{name}") for name in ("INT_MOBILE", "PARTS",
                                                                                     "MESSAGE")))
    expectations = {
        "invalid": (f"invalid numbers under {max_invalid_share:.0%}", gx.expectations.ExpectColumnValuesToBeInSet(
            column="MF_VALID", value_set=[True], mostly=1 - max_invalid_share)),
        "e164": ("every number to be sent in E.164", gx.expectations.ExpectColumnValuesToMatchRegex(
            column="SENDABLE_INT_MOBILE", regex=E164_REGEX)),
        "parts": (f"parts within the maximum ({summary.max_parts})", gx.expectations.ExpectColumnValuesToBeBetween(
            column="SENDABLE_PARTS", min_value=1, max_value=summary.max_parts)),
        "sendable": ("at least one sendable row", gx.expectations.ExpectColumnDistinctValuesToContainSet(
            column="SENDABLE", value_set=[True])),
    }
    if summary.campaign.type == "marketing":
        expectations["stop"] = ("STOP 36184 mention in every marketing message",
                                gx.expectations.ExpectColumnValuesToMatchRegex(column="SENDABLE_MESSAGE",
                                                                               regex=STOP_REGEX))
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no "Calculating Metrics" bars
    asset = context.data_sources.add_pandas("plan").add_dataframe_asset("recipients")
    batch = asset.add_batch_definition_whole_dataframe("whole plan").get_batch(
        batch_parameters={"dataframe": plan.to_pandas()})
    suite = context.suites.add(gx.ExpectationSuite(name="plan_contract"))
    for _, expectation in expectations.values():
        suite.add_expectation(expectation)
    results = batch.validate(suite, result_format="SUMMARY")
    failures = [_failure(key, result.result, max_invalid_share, summary.max_parts)
                for key, result in zip(expectations, results.results) if not result.success]
    quarantine, count = write_quarantine(plan_dir)
    if failures:
        raise ContractError(failures, quarantine, count)
    invalid = plan.height - int(plan.get_column("MF_VALID").sum() or 0)
    return ContractResult([name for name, _ in expectations.values()], quarantine, count,
                          invalid_share=invalid / plan.height if plan.height else 0.0,
                          max_invalid_share=max_invalid_share, sendable=int(plan.get_column("SENDABLE").sum()))
