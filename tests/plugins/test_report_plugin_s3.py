"""REP-1, REP-2 with the bucket on S3 (issue 13): the Campaign report tab finds the run's campaign on S3 from its id
(not from a worker's path in XCom) and reads the figures and the CSV there, streamed, never from a local disk."""

from __future__ import annotations

import asyncio
import json

from pipelines import storage
from pipelines.layout import CampaignPaths
from pipelines.storage import ObjectUrl

CAMPAIGN = "manual__2026-11-26T08_00_00_00_00"


def test_rep1_rep2_the_report_tab_reads_a_campaign_on_s3(s3_server, monkeypatch):
    from smsflow_provider.plugin import _page, campaign_location, file_response

    monkeypatch.setenv("SMSFLOW_BUCKET", s3_server.url("tenant/"))
    prepared = {"campaign_id": CAMPAIGN, "spec_path": f"/worker-1/cache/campaigns/{CAMPAIGN}/spec.yaml"}
    root = campaign_location(prepared)
    assert root == ObjectUrl.parse(s3_server.url(f"tenant/campaigns/{CAMPAIGN}"))
    paths = CampaignPaths(root)
    assert "has no report yet" in _page("sms_campaign", "manual__2026-11-26T08:00:00+00:00", root)
    storage.write_bytes(paths.stats, json.dumps({"rows": 6, "sent": 4, "delivered": 3, "delivery_rate": 0.75,
                                                 "statuses": []}).encode())
    report = "\ufeffREF_LIST;ID_LINE\n" + "".join(f"vip.csv;{line}\n" for line in range(1, 50_001))
    storage.write_bytes(paths.report, report.encode("utf-8"))
    page = _page("sms_campaign", "manual__2026-11-26T08:00:00+00:00", root)
    assert "<tr><th>Delivery rate</th><td>75.0%</td></tr>" in page and str(paths.report) in page

    answer = file_response(paths.report, "text/csv", download=True)
    assert answer.headers["content-disposition"] == f'attachment; filename="{CAMPAIGN}.csv"'

    async def body() -> bytes:
        return b"".join([block async for block in answer.body_iterator])

    assert asyncio.run(body()).decode("utf-8") == report


def test_rep1_a_local_bucket_keeps_the_folder_of_the_spec_prepare_wrote(tmp_path, monkeypatch):
    from smsflow_provider.plugin import campaign_location

    monkeypatch.setenv("SMSFLOW_BUCKET", str(tmp_path))
    spec = tmp_path / "campaigns" / CAMPAIGN / "spec.yaml"
    assert campaign_location({"campaign_id": CAMPAIGN, "spec_path": str(spec)}) == spec.parent
    assert campaign_location({"campaign_id": CAMPAIGN}) is None
