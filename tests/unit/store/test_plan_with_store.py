"""`smsflow plan` against the account store: saved lists (LIST-4), the account's blacklists (BL-1) and its
settings (ACC-2), in one run of the command."""

from __future__ import annotations

import polars as pl
from helpers import write_list, write_spec
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.store import create_account
from pipelines.store.blacklists import add_numbers
from pipelines.store.lists import import_list


def test_list4_bl1_a_saved_list_planned_by_the_cli_is_named_after_the_list_and_skips_opt_outs(store, tmp_path):
    write_list(tmp_path / "export.csv", "Prénom,Mobile\nZoé,0611111111\nBob,0622222222\n", "cp1252")
    create_account(store, "acme")
    import_list(store, "acme", "vip", tmp_path / "export.csv")
    add_numbers(store, "own", "acme", ["06 22 22 22 22"], source="cli")
    spec = write_spec(tmp_path / "spec", lists=[{"saved": "vip"}], account="acme", message="Bonjour ${Prénom}")
    result = CliRunner().invoke(app, ["plan", str(spec), "--out", str(tmp_path / "campaign" / "plan"),
                                      "--no-contracts"])
    assert result.exit_code == 0, result.output
    rows = pl.read_parquet(tmp_path / "campaign" / "plan" / "recipients.parquet")
    assert rows.select("REF_LIST", "INT_MOBILE", "STATUS_CODE").rows() == [
        ("vip", "+33611111111", None), ("vip", "+33622222222", 14)]
    assert "version 1" in result.output


def test_acc2_the_cli_refuses_a_spec_that_widens_its_account(store, tmp_path):
    create_account(store, "acme", allowed_countries=["FR"])
    spec = write_spec(tmp_path, recipients=[{"mobile": "0611111111"}], message="Bonjour",
                      account={"id": "acme", "allowed_countries": ["FR", "BE"]})
    result = CliRunner().invoke(app, ["plan", str(spec), "--out", str(tmp_path / "plan")])
    assert result.exit_code == 2
    assert "account.allowed_countries" in result.output and "ACC-2" in result.output
