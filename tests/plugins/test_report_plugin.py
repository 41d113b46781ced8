"""REP-1, REP-2: the smsflow plugin's Campaign report tab, rendered without an API server (the real one serves it in
tests/dags/test_approval_race.py)."""

from __future__ import annotations

import json

from pipelines.layout import CampaignPaths


def test_rep1_the_report_tab_shows_the_figures_and_links_the_downloads_of_its_own_run(tmp_path):
    from smsflow_provider.plugin import _page

    paths = CampaignPaths(tmp_path / "campaigns" / "manual__2026-11-26T08_00_00_00_00")
    paths.report_dir.mkdir(parents=True)
    paths.stats.write_text(json.dumps({"rows": 6, "sent": 4, "delivered": 3, "delivery_rate": 0.75, "replies": 1,
                                       "stops": 1, "statuses": [{"code": 16, "text": "Delivered", "recipients": 3}]}))
    run_id = "manual__2026-11-26T08:00:00+00:00"
    page = _page("sms_campaign", run_id, paths.root)
    assert "<tr><th>Delivery rate</th><td>75.0%</td></tr>" in page and "<td>Delivered</td><td>3</td>" in page
    # Links relative to the page, the run id escaped: they work behind any base URL.
    assert 'href="./manual__2026-11-26T08%3A00%3A00%2B00%3A00/report.csv" download' in page


def test_rep1_a_run_without_a_report_says_why():
    from smsflow_provider.plugin import _page

    assert "has no campaign" in _page("smsflow_purge", "scheduled__2026-11-26", None)


def test_house_loading_the_plugin_builds_no_app():
    """Every Airflow process loads plugins (each task too): the app, and the API server's security it imports (about
    a second), wait until the API server reads `fastapi_apps` (it does in tests/dags/test_approval_race.py)."""
    import subprocess
    import sys

    code = ("import sys; import smsflow_provider.plugin as plugin\n"
            "print('SEEN', 'airflow.api_fastapi.core_api.security' in sys.modules, 'fastapi' in sys.modules,\n"
            "      type(vars(plugin.SmsflowPlugin)['fastapi_apps']).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    seen = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("SEEN ")]
    assert seen == [["False", "False", "_AppWhenRead"]], result.stdout[-2000:] + result.stderr[-2000:]
