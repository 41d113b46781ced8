"""Issue 12 "Done when": a tracked campaign end to end (URL-1..5, REP-1, REP-2) — planned by `smsflow plan`, sent to
the simulator, its short links served by a real `smsflow links serve` process and clicked by a person and fetched
by WhatsApp with a real HTTP client, the click log rolled, `smsflow load`, then `smsflow stats` and the REP-2 CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
from helpers import smsflow_here, write_list, write_spec

from pipelines.dispatch import SmscSettings, send_plan
from pipelines.links.clicks import read_clicks

SMSFLOW = Path(sys.executable).with_name("smsflow")
BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.5 Mobile/15E148 Safari/604.1")
WHATSAPP = "WhatsApp/2.23.20.0 A"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(condition, seconds: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds:g} s"
        time.sleep(0.1)
    return result


def _healthy(process: subprocess.Popen, port: int, log: Path) -> str:
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    _until(answers, 30, "the links service answering")
    return url


def _rows(report: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig")), delimiter=";"))


def _counters(report: Path) -> dict:
    """ID_LINE -> (PREVIEW_COUNTER, TRACK_1_COUNTER, TRACK_2_COUNTER) of the REP-2 CSV."""
    return {row["ID_LINE"]: (row["PREVIEW_COUNTER"], row["TRACK_1_COUNTER"], row["TRACK_2_COUNTER"])
            for row in _rows(report)}


def test_issue12_a_tracked_campaign_end_to_end(smsc, bucket):
    env = {"SMSFLOW_BUCKET": str(bucket)}
    rows = ["0611111111;Ann;A 1", "0622222222;Léo;B2", "0633333333;Zoé;C3"]
    write_list(bucket / "in" / "clients.csv", "Mobile;Prénom;ID\n" + "\n".join(rows) + "\n")
    spec = write_spec(bucket / "in", lists=["clients.csv"],
                      message="${Prénom}, votre commande : https://www.monsite.com/id=${ID} et https://monsite.com/aide",
                      tracking={"domain": "sms.ex.fr", "preview": {"title": "${Prénom}, votre commande",
                                                                 "description": "Suivez-la ici"}})
    plan = bucket / "campaigns" / "suivi" / "plan"
    planned = smsflow_here("plan", str(spec), "--no-contracts", "--out", str(plan), env=env)
    assert planned.returncode == 0, planned.stderr

    # URL-1, URL-5: 19-character short links, one token per recipient and link, none shared.
    links = pl.read_parquet(plan / "links.parquet").sort("id_line", "link")
    assert links.height == 6 and links.get_column("short_url").str.len_chars().unique().to_list() == [19]
    assert links.get_column("token").n_unique() == 6
    assert links.filter(pl.col("link") == 1).get_column("target").to_list()[:2] == [
        "https://www.monsite.com/id=A%201", "https://www.monsite.com/id=B2"]

    port = _free_port()  # the links service starts while the campaign is sent
    process = subprocess.Popen([str(SMSFLOW), "links", "serve", "--bucket", str(bucket), "--port", str(port),
                                "--poll", "0.3", "--roll", "0.5"], stdout=(bucket.parent / "serve.log").open("w"),
                               stderr=subprocess.STDOUT)
    try:
        simulator = smsc()
        send_plan(plan, SmscSettings.from_url(simulator.url(linger=3.0)))
        database = bucket / "warehouse.sqlite"
        loaded = smsflow_here("load", str(plan.parent), "--db", str(database), "--late-events", str(bucket / "events"),
                              env=env)
        assert loaded.returncode == 0, loaded.stderr
        report_csv = bucket / "campaigns" / "suivi" / "report" / "suivi.csv"  # as the run's finish step writes it
        written = smsflow_here("report", "suivi", "--db", str(database), "--out", str(report_csv), env=env)
        assert written.returncode == 0, written.stderr
        # The long-lived receiver loads what comes (issue 11): the links service's click batches too (URL-3).
        receiver = subprocess.Popen([str(SMSFLOW), "receive", str(bucket / "events"), "--smsc", simulator.url(),
                                     "--load", "--seconds", "120"], stdout=(bucket.parent / "receive.log").open("w"),
                                    stderr=subprocess.STDOUT, env={**os.environ, **env})
        url = _healthy(process, port, bucket.parent / "serve.log")
        ann = links.filter((pl.col("id_line") == 1) & (pl.col("link") == 1)).row(0, named=True)
        ann_help = links.filter((pl.col("id_line") == 1) & (pl.col("link") == 2)).row(0, named=True)
        leo = links.filter((pl.col("id_line") == 2) & (pl.col("link") == 1)).row(0, named=True)
        with httpx.Client(base_url=url, follow_redirects=False, timeout=5) as client:
            for _ in range(2):  # a person clicks her first link twice and her second once: 302 each time
                answer = client.get(f"/{ann['token']}", headers={"User-Agent": BROWSER})
                assert answer.status_code == 302 and answer.headers["location"] == ann["target"]
            assert client.get(f"/{ann_help['token']}", headers={"User-Agent": BROWSER}).status_code == 302
            page = client.get(f"/{leo['token']}", headers={"User-Agent": WHATSAPP})  # WhatsApp's preview
            assert page.status_code == 200 and '<meta property="og:title" content="Léo, votre commande">' in page.text
            guessed = "x" * (19 - len("sms.ex.fr/"))
            assert guessed not in set(links.get_column("token")) and \
                client.get(f"/{guessed}", headers={"User-Agent": BROWSER}).status_code == 404
        _until(lambda: read_clicks(bucket).height == 4, 20, "the click log rolled into Parquet")
        # Within 60 s, with no manual command, the REP-2 CSV shows them (read from the file, not the lake).
        _until(lambda: _counters(report_csv) == {"1": ("0", "2", "1"), "2": ("1", "0", "0"), "3": ("0", "0", "0")}
               or receiver.poll() is not None, 60, "the clicks in the REP-2 CSV")
        assert receiver.poll() is None, (bucket.parent / "receive.log").read_text()
    finally:
        for running in (process, locals().get("receiver")):
            if running is not None:
                running.terminate()
                running.wait(timeout=30)
    told = " ".join((bucket.parent / "receive.log").read_text().split())
    assert re.search(r"\d clicks? or previews? loaded into the warehouse: campaign suivi; report of suivi written "
                     r"again", told), told  # one or more rounds, as the batches were rolled

    loaded = smsflow_here("load", str(plan.parent), "--db", str(database), "--late-events", str(bucket / "events"), env=env)
    assert loaded.returncode == 0 and "4 clicks and previews" in loaded.stderr, loaded.stdout + loaded.stderr
    again = smsflow_here("load", str(plan.parent), "--db", str(database), "--late-events", str(bucket / "events"), env=env)
    assert again.returncode == 0  # idempotent: the same clicks once (the receiver's load and these two)

    stats = smsflow_here("stats", "suivi", "--db", str(database), "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    figures = json.loads(stats.stdout)
    assert (figures["clicks"], figures["unique_clickers"], figures["previews"]) == (3, 1, 1)
    assert figures["click_rate"] == round(1 / figures["delivered"], 4) and figures["delivered"] == 3
    shown = smsflow_here("stats", "suivi", "--db", str(database), env=env)
    assert "Clicks: 3 by 1 recipient (click rate 33.3% of delivered); 1 link preview fetched" in shown.stdout

    table = _rows(report_csv)
    assert list(table[0])[:13] == ["REF_LIST", "ID_LINE", "INT_MOBILE", "STATUS_CODE", "STATUS_TEXT", "DELIVERYDATE",
                                   "REPLY", "PREVIEW", "PREVIEW_COUNTER", "TRACK_1", "TRACK_1_COUNTER", "TRACK_2",
                                   "TRACK_2_COUNTER"]
    assert list(table[0])[13:16] == ["MF_ALLOW", "MF_VALID", "MF_COUNTRY"]
    by_line = {row["ID_LINE"]: row for row in table}
    date = r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d"
    assert re.fullmatch(date, by_line["1"]["TRACK_1"]) and by_line["1"]["TRACK_1_COUNTER"] == "2"
    assert re.fullmatch(date, by_line["1"]["TRACK_2"]) and by_line["1"]["TRACK_2_COUNTER"] == "1"
    assert (by_line["1"]["PREVIEW"], by_line["1"]["PREVIEW_COUNTER"]) == ("", "0")
    assert re.fullmatch(date, by_line["2"]["PREVIEW"]) and by_line["2"]["PREVIEW_COUNTER"] == "1"
    assert (by_line["2"]["TRACK_1"], by_line["2"]["TRACK_1_COUNTER"]) == ("", "0")  # a preview is not a click
    assert [by_line["3"][name] for name in ("PREVIEW", "PREVIEW_COUNTER", "TRACK_1", "TRACK_1_COUNTER")] == \
        ["", "0", "", "0"]
