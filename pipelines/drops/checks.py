"""The checks a drop passes before anything else (DROP-1, PLUS-3): its size, a binary export told as such, the list
reader's own refusals (encoding, header, mobile column, rows), and a Great Expectations contract on what its rows
measure (rows, invalid-number share)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.lists import ListError
from pipelines.store.drops import DropRule

MAX_BYTES = 2 << 30  # a drop's default size limit (2 GiB, ~25M rows of a typical export)
MAX_ROWS = 20_000_000
# What a CRM sometimes exports instead of CSV: told as such rather than as a list without a mobile column.
BINARY_EXPORTS = {b"PK\x03\x04": "a zip archive or an Excel workbook (.xlsx)",
                  b"\xd0\xcf\x11\xe0": "an Excel 97-2003 workbook (.xls)", b"%PDF": "a PDF document"}


class DropRefused(Exception):
    """A drop that fails a check: what failed, in words, and where in the file when known."""

    def __init__(self, check: str, reason: str, rule: str, line: int | None = None, column: str | None = None,
                 row: int | None = None, **details: Any):
        self.check, self.reason, self.rule, self.line, self.column, self.row, self.details = check, reason, rule, \
            line, column, row, details
        super().__init__(f"{check}: {reason} [{rule}]")


# --- The checks --------------------------------------------------------------------------------------------------
def check_size(size: int, rule: DropRule) -> None:
    limit = rule.max_bytes or MAX_BYTES
    if size == 0:
        raise DropRefused("size", "the file is empty", "DROP-1")
    if size > limit:
        raise DropRefused("size", f"{size:,} bytes, more than the {limit:,} a drop may hold (rule {rule.id}: "
                                  f"smsflow drops add --max-bytes)", "DROP-1", size=size, max_bytes=limit)


def measure_numbers(path: Path, shown: str) -> tuple[Any, str]:
    """The list read as a campaign reads it (`pipelines.lists`), its numbers judged (`pipelines.numbers`): a frame
    of (ID_LINE, MF_VALID) and the mobile column's name. A refusal of the reader names the line and column."""
    import polars as pl

    from pipelines.lists import ID_LINE, inspect_list, read_list_batches
    from pipelines.numbers import normalise_numbers

    with path.open("rb") as stream:
        head = stream.read(8)
    for magic, kind in BINARY_EXPORTS.items():
        if head.startswith(magic):
            raise DropRefused("readable", f"{kind}, not a CSV or text export: export the list as CSV", "LIST-1",
                              line=1)
    try:
        layout = inspect_list(path, shown)
        frames = [batch.select(ID_LINE).with_columns(
                      normalise_numbers(batch.get_column(layout.mobile_column)).get_column("MF_VALID"))
                  for batch in read_list_batches(layout)]
    except ListError as error:
        check = "mobile column" if error.rule == "LIST-2" else "readable"
        raise DropRefused(check, error.reason, error.rule, error.line, error.column) from None
    frame = pl.concat(frames) if frames else pl.DataFrame(schema={ID_LINE: pl.Int64, "MF_VALID": pl.Boolean})
    return frame, layout.mobile_column


def check_contract(numbers, mobile_column: str, max_invalid_share: float, max_rows: int = MAX_ROWS) -> None:
    """DROP-1's contract on what the rows measure, by Great Expectations: 1 to `max_rows` rows, the share of
    invalid numbers at most `max_invalid_share`. A failure names the observed figures and the first bad lines."""
    from pipelines.contracts import _percent, _quiet_great_expectations

    _quiet_great_expectations()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_great_expectations()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("drop").add_dataframe_asset("rows")
             .add_batch_definition_whole_dataframe("whole drop")
             .get_batch(batch_parameters={"dataframe": numbers.select("MF_VALID").to_pandas()}))
    suite = context.suites.add(gx.ExpectationSuite(name="drop_contract"))
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, max_value=max_rows))
    suite.add_expectation(gx.expectations.ExpectColumnValuesToBeInSet(column="MF_VALID", value_set=[True],
                                                                      mostly=1 - max_invalid_share))
    rows_result, invalid_result = batch.validate(suite, result_format="SUMMARY").results
    if not rows_result.success:
        observed = rows_result.result.get("observed_value")
        raise DropRefused("rows", f"{observed:,} rows: a drop holds between 1 and {max_rows:,}", "DROP-1",
                          rows=observed)
    if not invalid_result.success:
        invalid = numbers.filter(~numbers.get_column("MF_VALID"))
        share = invalid.height / numbers.height
        first = invalid.get_column("ID_LINE").head(5).to_list()
        raise DropRefused("invalid share", f"invalid numbers {_percent(share)} ({invalid.height:,} of "
                                           f"{numbers.height:,}) over the {_percent(max_invalid_share)} allowed; "
                                           f"first invalid rows (the header not counted, LIST-6): "
                                           f"{', '.join(map(str, first))}",
                          "PLUS-3", row=first[0] if first else None, column=mobile_column, invalid=invalid.height,
                          rows=numbers.height, invalid_share=share, max_invalid_share=max_invalid_share,
                          invalid_rows=first)
