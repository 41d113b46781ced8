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


def test_url1_the_cli_plans_short_links_on_the_account_s_tracking_domain(store, tmp_path):
    runner = CliRunner()
    made = runner.invoke(app, ["account", "create", "acme", "--tracking-domain", "ac.me", "--json"])
    assert made.exit_code == 0 and '"tracking_domain": "ac.me"' in made.output, made.output
    write_list(tmp_path / "list.csv", "Mobile\n0611111111\n0622222222\n")
    spec = write_spec(tmp_path / "spec", lists=["../list.csv"], account="acme", tracking=True,
                      message="Soldes sur https://acme.fr/soldes")
    result = runner.invoke(app, ["plan", str(spec), "--out", str(tmp_path / "plan"), "--no-contracts"])
    assert result.exit_code == 0, result.output
    links = pl.read_parquet(tmp_path / "plan" / "links.parquet")
    assert links.height == 2 and all(url.startswith("ac.me/") and len(url) == 19 for url in links["short_url"])
    cleared = runner.invoke(app, ["account", "set", "acme", "--tracking-domain", "none", "--json"])
    assert cleared.exit_code == 0 and '"tracking_domain": null' in cleared.output, cleared.output
