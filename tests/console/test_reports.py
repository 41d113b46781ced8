"""REP-1, REP-2 in the browser (issue 14): the reports list, a campaign's report page with its charts and replies,
the CSV per category (the CLI's writer: formulas neutralised), and nothing of another account (ACC-3).

The campaign is produced for real, cheaply, as tests/integration/test_campaign_report.py does: planned, sent to
the SMSC simulator, loaded into the bucket's warehouse (the lake the DAG's finish task loads), and recorded in the
account store as a finished campaign of the test user's account.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import yaml
from console_helpers import add_user, client, console_app, log_in
from helpers import write_list


def finished_campaign(app, simulator, bucket: Path, account: str, campaign_id: str = "soldes-c1") -> str:
    """A campaign of `account` planned, sent (one undelivered, a reply then STOP), loaded and finished."""
    from pipelines.campaign import WAREHOUSE
    from pipelines.dispatch import SmscSettings, campaign_dirs, send_plan
    from pipelines.layout import CampaignPaths
    from pipelines.plan import plan_file
    from pipelines.report import campaign_stats
    from pipelines.store import campaigns as store
    from pipelines.warehouse import load_dispatch, load_plan

    rows = ["0611111111;=HYPERLINK(\"x\");Nîmes", "0611111122;@Zoé;-1", "0611111111;Ann;Lyon", "abc;+x;Paris",
            "0611111133;Léo;Dijon"]
    write_list(bucket / "list.csv", "Mobile;Prénom;Ville\n" + "\n".join(rows) + "\n")
    spec = {"name": "Soldes <d'hiver>", "type": "notification", "message": "Bonjour ${Prénom}",
            "lists": [str(bucket / "list.csv")]}
    (bucket / "spec.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    store.create(app.state.engine, spec, account, campaign_id, base=bucket)
    paths = CampaignPaths.in_bucket(bucket, campaign_id)
    plan = plan_file(bucket / "spec.yaml", paths.plan).out_dir
    send_plan(plan, SmscSettings.from_url(simulator.url(linger=30.0)))
    database = bucket / WAREHOUSE
    load_plan(database, campaign_id, plan)
    load_dispatch(database, campaign_id, *campaign_dirs(plan))
    store.schedule(app.state.engine, campaign_id, f"manual__{campaign_id}")
    store.transition(app.state.engine, campaign_id, "running", "approved")
    store.end_run(app.state.engine, campaign_id, "sent", campaign_stats(database, campaign_id))
    return campaign_id


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    """The extranet, a finished campaign of account acme, a browser logged in as acme's user, and another account's
    user logged in a second browser: made once for the module (a real send costs seconds), read-only afterwards."""
    from pipelines.smpp.simulator import SimulatorProcess

    tmp_path = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("SMSFLOW_DB", f"sqlite:///{tmp_path / 'store.db'}")
        app = console_app(tmp_path, monkeypatch)
        add_user(app, "ana@acme.fr", account="acme")
        add_user(app, "eve@other.fr", account="other")
        simulator = SimulatorProcess(tmp_path / "smsc", {
            "receipt_delay": 0.05, "rules": [{"value": "22", "outcome": "UNDELIV"}],
            "replies": [{"number": "33611111111", "text": "=Merci <b>", "delay": 0.0},
                        {"number": "33611111111", "text": "STOP", "delay": 0.0}]})
        try:
            campaign_id = finished_campaign(app, simulator, tmp_path / "bucket", "acme")
        finally:
            simulator.stop()
        ana, eve = client(app), client(app)
        assert log_in(ana, "ana@acme.fr").status_code == 303
        assert log_in(eve, "eve@other.fr").status_code == 303
        yield app, campaign_id, ana, eve


def test_rep1_report_page_figures_charts_downloads_and_replies(sent):
    _, campaign_id, ana, _ = sent
    page = ana.get(f"/reports/{campaign_id}")
    assert page.status_code == 200
    text = page.text
    assert "Rapport de « Soldes &lt;d&#39;hiver&gt; »" in text  # escaped, never markup
    assert '<svg class="chart"' in text and "Délivré (16) : 1 destinataires" in text
    assert "Délivré + STOP demandé (17)" in text and "Non délivré (20)" in text
    assert 'aria-labelledby="hourly-chart-t hourly-chart-d"' in text and "délivrés</title>" in text
    for category in ("all", "delivered", "not_delivered", "invalid", "duplicates"):
        assert f'href="/reports/{campaign_id}/csv/{category}"' in text
    assert f'href="/reports/{campaign_id}/csv/blacklisted"' not in text  # no such row: no empty download
    assert "=Merci &lt;b&gt;" in text and "STOP" in text and "33611111111" in text  # replies, escaped
    assert "66,7 %" in text  # REP-1's delivery rate: 2 delivered of 3 sent


def test_rep2_csv_download_attachment_columns_and_formula_neutralised(sent):
    from pipelines.report import REPORT_COLUMNS, _neutralised

    _, campaign_id, ana, _ = sent
    answer = ana.get(f"/reports/{campaign_id}/csv/all")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == f'attachment; filename="{campaign_id}-all.csv"'
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    assert list(rows[0]) == REPORT_COLUMNS + ["Mobile", "Prénom", "Ville"]
    first = rows[0]
    assert first["Prénom"] == "'=HYPERLINK(\"x\")" and first["REPLY"] == "'=Merci <b>#STOP"
    assert rows[1]["Prénom"] == "'@Zoé" and rows[1]["Ville"] == "'-1" and rows[3]["Prénom"] == "'+x"
    assert first["INT_MOBILE"] == "+33611111111"  # a valid E.164 number is kept as is
    for start in ("=", "+", "-", "@", "\t", "\r"):  # REP-2: every start a spreadsheet reads as a formula
        assert _neutralised(f"{start}1+1") == f"'{start}1+1"
    delivered = list(csv.DictReader(io.StringIO(
        ana.get(f"/reports/{campaign_id}/csv/delivered").content.decode("utf-8-sig")), delimiter=";"))
    assert [row["STATUS_CODE"] for row in delivered] == ["17", "16"]
    assert ana.get(f"/reports/{campaign_id}/csv/nonsense").status_code == 404


def test_rep1_reports_list_and_acc3_another_account_sees_nothing(sent):
    app, campaign_id, ana, eve = sent
    listed = ana.get("/reports")
    assert listed.status_code == 200 and f'href="/reports/{campaign_id}"' in listed.text
    assert "66,7 %" in listed.text and "Terminée" in listed.text
    assert f"/reports/{campaign_id}" not in eve.get("/reports").text
    missing = eve.get("/reports/no-such-campaign")
    for path in (f"/reports/{campaign_id}", f"/reports/{campaign_id}/csv/all", f"/reports/{campaign_id}/csv/delivered"):
        answer = eve.get(path)
        assert answer.status_code == 404 and answer.text == missing.text  # exactly as absent as a missing one
    from sqlalchemy import select

    from pipelines.store.schema import audit_log

    def downloads() -> list[tuple]:
        with app.state.engine.connect() as connection:
            return connection.execute(select(audit_log.c.actor, audit_log.c.target, audit_log.c.detail)
                                      .where(audit_log.c.action == "report.download")
                                      .order_by(audit_log.c.id)).all()

    assert not [row for row in downloads() if row[0] == "eve@other.fr"]  # eve's refused downloads wrote nothing
    ana.get(f"/reports/{campaign_id}/csv/invalid")
    assert downloads()[-1] == ("ana@acme.fr", campaign_id, "invalid")  # every download audited


def test_rep1_a_draft_has_no_report_yet(tmp_path, monkeypatch):
    from pipelines.store import campaigns as store

    app = console_app(tmp_path, monkeypatch)
    add_user(app, "ana@acme.fr", account="acme")
    write_list(tmp_path / "bucket" / "list.csv", "Mobile\n0611111111\n")
    store.create(app.state.engine, {"name": "Brouillon", "type": "notification", "message": "Bonjour",
                                    "lists": [str(tmp_path / "bucket" / "list.csv")]}, "acme", "draft-1")
    browser = client(app)
    log_in(browser, "ana@acme.fr")
    assert "Pas encore de rapport" in browser.get("/reports/draft-1").text
    assert "draft-1" not in browser.get("/reports").text
    assert browser.get("/reports/draft-1/csv/all").status_code == 404


def test_rep1_deliveries_and_clicks_per_hour_on_one_continuous_axis():
    from datetime import datetime

    import polars as pl

    from pipelines.console.reports_data import per_hour

    def moments(*values: str) -> pl.DataFrame:
        """One count per hour as the warehouse's query gives them (`n` of that hour)."""
        return pl.DataFrame({"moment": [datetime.fromisoformat(value).replace(minute=0) for value in values],
                             "n": [1] * len(values)}, schema={"moment": pl.Datetime("us"), "n": pl.Int64})

    deliveries = moments("2026-11-26 14:05", "2026-11-26 14:59", "2026-11-26 17:10")
    clicks = moments("2026-11-26 15:30")
    assert per_hour(deliveries, clicks) == (["26/11 14h", "26/11 15h", "26/11 16h", "26/11 17h"], [2, 0, 0, 1],
                                            [0, 1, 0, 0])
    assert per_hour(deliveries, None) == (["26/11 14h", "26/11 15h", "26/11 16h", "26/11 17h"], [2, 0, 0, 1], None)
    late = moments("2026-11-26 14:05", "2026-11-30 09:00")  # a late receipt four days on: drawn per day
    assert per_hour(late, None) == (["26/11", "27/11", "28/11", "29/11", "30/11"], [1, 0, 0, 0, 1], None)
    assert per_hour(moments(), moments()) == ([], [], [])
    counted = pl.DataFrame({"moment": [datetime(2026, 11, 26, 14), datetime(2026, 11, 26, 16)], "n": [1500, 7]})
    assert per_hour(counted, None) == (["26/11 14h", "26/11 15h", "26/11 16h"], [1500, 0, 7], None)
