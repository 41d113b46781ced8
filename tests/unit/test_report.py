"""REP-2: the CSV report never hands a spreadsheet a formula, in a cell or a header."""

from __future__ import annotations

import csv
import io

import polars as pl

from pipelines.report import REPORT_COLUMNS, write_csv


def report_rows(list_columns: dict[str, list[str]], int_mobile: list[str | None]) -> pl.DataFrame:
    """A report frame as campaign_report builds it: REP-2 columns as text, then the list's columns."""
    rows = len(int_mobile)
    frame = pl.DataFrame({name: [None] * rows for name in REPORT_COLUMNS},
                         schema={name: pl.String for name in REPORT_COLUMNS})
    frame = frame.with_columns(pl.Series("INT_MOBILE", int_mobile, dtype=pl.String),
                               pl.Series("REF_LIST", ["list.csv"] * rows, dtype=pl.String))
    return frame.hstack(pl.DataFrame(list_columns, schema={name: pl.String for name in list_columns}))


def read_back(path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_rep2_header_named_like_a_formula_is_neutralised(tmp_path):
    columns = {'=HYPERLINK("http://x.example";"clic")': ["a"], "+Prix": ["b"], "\tNote": ["c"], "Ville": ["d"],
               "'=HYPERLINK(\"http://x.example\";\"clic\")": ["e"]}
    header, row = read_back(write_csv(report_rows(columns, ["+33612345678"]), tmp_path / "r.csv"))
    assert header == REPORT_COLUMNS + ["'=HYPERLINK(\"http://x.example\";\"clic\")", "'+Prix", "'\tNote", "Ville",
                                       "'=HYPERLINK(\"http://x.example\";\"clic\")"]
    assert row[len(REPORT_COLUMNS):] == ["a", "b", "c", "d", "e"]


def test_rep2_values_starting_with_tab_or_carriage_return_are_neutralised(tmp_path):
    values = ["\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "Dupont", "Jean-Paul"]
    _, *rows = read_back(write_csv(report_rows({"Nom": values}, ["+33612345678"] * len(values)),
                                   tmp_path / "r.csv"))
    assert [row[-1] for row in rows] == ["'\t=1+1", "'\r=1+1", "'=cmd|' /C calc'!A0", "'@SUM(A1)", "'-2+3",
                                         "Dupont", "Jean-Paul"]


def test_rep2_valid_e164_int_mobile_is_written_as_is_other_text_neutralised(tmp_path):
    mobiles = ["+33612345678", "+32470123456", None, "+33=1+1"]
    _, *rows = read_back(write_csv(report_rows({"Mobile": ["+33 6 12 34 56 78", "0470", "abc", "x"]}, mobiles),
                                   tmp_path / "r.csv"))
    at = REPORT_COLUMNS.index("INT_MOBILE")
    assert [row[at] for row in rows] == ["+33612345678", "+32470123456", "", "'+33=1+1"]
    assert rows[0][-1] == "'+33 6 12 34 56 78"  # the list's own column is free text: neutralised
