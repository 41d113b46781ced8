"""`smsflow plan` of a tracked campaign as a user runs it (a real process): links.parquet and the preview image in
the campaign's plan folder, the summary's tracking section, and a refusal naming every tracking problem at once
(URL-1, URL-2, URL-4, URL-5, ENC-6). The refusal runs in this process (tests/helpers.smsflow_here)."""

from __future__ import annotations

import io
import json
import os

import polars as pl
from helpers import smsflow, smsflow_here, write_list, write_spec
from PIL import Image


def test_url1_cli_plan_of_a_tracked_spec_writes_links_beside_the_plan(tmp_path):
    bucket = tmp_path / "bucket"
    write_list(bucket / "incoming" / "clients.csv",
               "Mobile;Prénom;ID\n0611111111;Ann;A 1\n0622222222;Léo;B2\nabc;Zoé;C3\n")
    image = io.BytesIO()
    Image.new("RGB", (600, 280), "orange").save(image, format="JPEG")
    (bucket / "specs").mkdir(parents=True)
    (bucket / "specs" / "soldes.jpg").write_bytes(image.getvalue())
    spec = write_spec(bucket / "specs", type="marketing", lists=["../incoming/clients.csv"],
                      message="${Prénom}, -20 % sur https://www.monsite.com/id=${ID}. STOP 36184",
                      tracking={"domain": "sms.ex.fr", "lifetime_days": 30,
                                "preview": {"title": "${Prénom}, vos soldes", "description": "Jusqu'à -20 %",
                                            "image": "soldes.jpg"}})
    env = {**os.environ, "SMSFLOW_BUCKET": str(bucket)}
    result = smsflow("plan", str(spec), "--json", "--no-contracts", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    plan = bucket / "campaigns" / "spec" / "plan"
    assert summary["campaign"]["tracking"] is True
    assert summary["tracking"]["domain"] == "sms.ex.fr" and summary["tracking"]["links"] == 2
    assert summary["tracking"]["preview"]["image"] == "preview.jpg" and summary["tracking"]["warnings"] == []
    assert "ID" in summary["fields_used"]
    assert (plan / "preview.jpg").read_bytes() == (bucket / "specs" / "soldes.jpg").read_bytes()
    assert "links.parquet" in json.loads((plan / ".smsflow-plan").read_text())["files"]

    links = pl.read_parquet(plan / "links.parquet").sort("id_line")
    recipients = pl.read_parquet(plan / "recipients.parquet").filter(pl.col("STATUS_CODE").is_null())
    assert links.get_column("target").to_list() == ["https://www.monsite.com/id=A%201",
                                                    "https://www.monsite.com/id=B2"]
    assert links.get_column("title").to_list() == ["Ann, vos soldes", "Léo, vos soldes"]
    assert links.get_column("short_url").str.len_chars().to_list() == [19, 19]
    assert recipients.get_column("MESSAGE").to_list() == [
        f"{name}, -20 % sur {short}. STOP 36184" for name, short in zip(["Ann", "Léo"], links["short_url"])]
    assert summary["parts"] == {"1": 2}  # ENC-6: the short link is what is counted


def test_url5_url4_cli_plan_refuses_every_tracking_problem_at_once(tmp_path):
    write_list(tmp_path / "list.csv", "Mobile;Prénom\n0611111111;Ann\n")
    (tmp_path / "preview.png").write_text("a text file named .png")
    spec = write_spec(tmp_path, lists=["list.csv"], message="Voir https://x.fr/{{ Prénom | upper }}",
                      tracking={"domain": "sms.example.fr",
                                "preview": {"title": "T" * 45, "description": "D", "image": "preview.png"}})
    result = smsflow_here("plan", str(spec), "--out", str(tmp_path / "plan"), "--no-contracts")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    for words in ("tracking.domain", "[URL-5]", "tracking.preview.title", "tracking.preview.image",
                  "not an image", "[URL-2]"):
        assert words in result.stderr + result.stdout, (words, result.stderr)
    assert not (tmp_path / "plan").exists()
