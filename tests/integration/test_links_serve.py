"""`smsflow links serve` as a real process, asked by a real HTTP client (URL-3, URL-4, URL-5)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import polars as pl
import pytest

from pipelines.layout import PLAN_MARKER
from pipelines.links.app import UNREADABLE_AGENT
from pipelines.links.clicks import CLICKS_SCHEMA, log_folder, read_clicks, roll

SMSFLOW = Path(sys.executable).with_name("smsflow")
SHORT = "clic.fr"  # 7 + "/" + 11-character token = 19 (URL-1)
BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.5 Mobile/15E148 Safari/604.1")
WHATSAPP = "WhatsApp/2.23.20.0 A"
IMESSAGE = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) "
            "Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00"
       b"\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def plan_links(bucket: Path, campaign: str, tokens: list[str], expires_at=None) -> Path:
    """A plan folder as the plan installs it (written aside, renamed into place): links.parquet in the
    contract, a preview image, the marker."""
    n = len(tokens)
    frame = pl.DataFrame({
        "token": tokens, "short_url": [f"{SHORT}/{token}" for token in tokens], "ref_list": ["crm.csv"] * n,
        "id_line": list(range(1, n + 1)), "link": [1] * n,
        "target": [f"https://shop.example.com/vip?id={i}&c=été" .replace("é", "%C3%A9") for i in range(1, n + 1)],
        "title": [f"Marie, vos soldes <b>{i}</b>" for i in range(1, n + 1)], "description": ["Jusqu'à -50 %"] * n,
        "image": ["preview.png"] * n, "expires_at": [expires_at] * n,
    }, schema_overrides={"id_line": pl.Int64, "link": pl.Int32, "expires_at": pl.Datetime("us", "UTC")})
    final = bucket / "campaigns" / campaign / "plan"
    staging = final.with_name("plan.staging")
    staging.mkdir(parents=True)
    frame.write_parquet(staging / "links.parquet")
    (staging / "preview.png").write_bytes(PNG)
    (staging / PLAN_MARKER).write_text("links.parquet\npreview.png\n")
    staging.rename(final)
    return final


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


SERVERS = ("granian", "uvicorn")  # granian serves the app through RSGI, uvicorn through ASGI: the same answers


class Server:
    def __init__(self, bucket: Path, server: str = "granian", roll: float = 0.5):
        self.bucket, self.port = bucket, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (bucket.parent / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [str(SMSFLOW), "links", "serve", "--bucket", str(bucket), "--port", str(self.port), "--poll", "0.3",
             "--roll", str(roll), "--server", server], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)
        # granian's workers are child processes: killed with their supervisor (PR_SET_PDEATHSIG), but the kernel
        # tears them down after the supervisor is reaped; they are gone once the port is closed
        wait_for(lambda: not port_open(self.port), seconds=15)
        self.log.close()


def wait_for(condition, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while (result := condition()) is False or result is None:
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)
    return result


@pytest.fixture(scope="module", params=SERVERS)
def served(tmp_path_factory, request):
    bucket = tmp_path_factory.mktemp(f"links-{request.param}") / "bucket"
    plan_links(bucket, "soldes", [f"Tok{i:08d}" for i in range(1, 51)])
    plan_links(bucket, "old", ["Expired0001"], expires_at=datetime(2020, 1, 1, tzinfo=timezone.utc))
    server = Server(bucket, request.param)
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=5)
    yield server, client
    client.close()
    server.stop()


def test_url3_a_person_is_redirected_to_the_recorded_target_only(served):
    server, client = served
    answer = client.get("/Tok00000007?next=https://evil.example/", headers={"User-Agent": BROWSER})
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example.com/vip?id=7&c=%C3%A9t%C3%A9"
    assert answer.headers["cache-control"] == "private, no-store"
    assert "Short links: serving 51 links of 2 campaigns" in server.output()


@pytest.mark.parametrize("agent", [WHATSAPP, IMESSAGE])
def test_url4_a_preview_crawler_gets_the_opengraph_page_and_its_image(served, agent):
    _, client = served
    answer = client.get("/Tok00000003", headers={"User-Agent": agent})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert '<meta property="og:title" content="Marie, vos soldes &lt;b&gt;3&lt;/b&gt;">' in page
    assert '<meta property="og:description" content="Jusqu&#x27;à -50 %">' in page
    assert f'<meta property="og:url" content="https://{SHORT}/Tok00000003">' in page
    assert f'<meta property="og:image" content="https://{SHORT}/Tok00000003/preview.png">' in page
    assert 'href="https://shop.example.com/vip?id=3&amp;c=%C3%A9t%C3%A9"' in page  # for a person misjudged
    image = client.get("/Tok00000003/preview.png", headers={"User-Agent": agent})
    assert (image.status_code, image.headers["content-type"], image.content) == (200, "image/png", PNG)
    assert client.get("/Tok00000003/links.parquet").status_code == 404  # only the plan's preview image


def test_url4_head_is_a_preview_not_a_click(served):
    _, client = served
    answer = client.head("/Tok00000004", headers={"User-Agent": BROWSER})
    assert answer.status_code == 200 and answer.content == b"" and "location" not in answer.headers
    page = client.get("/Tok00000004", headers={"User-Agent": WHATSAPP})
    assert int(answer.headers["content-length"]) == len(page.content) > 0  # the page's length, without the page


def test_url3_a_redirect_has_no_body_and_the_same_headers_on_both_servers(served):
    _, client = served
    answer = client.get("/Tok00000008", headers={"User-Agent": BROWSER})
    assert answer.status_code == 302 and answer.content == b"" and answer.headers["content-length"] == "0"
    assert (answer.headers["cache-control"], answer.headers["referrer-policy"]) == ("private, no-store",
                                                                                    "no-referrer")


def test_url3_an_agent_that_is_not_ascii_is_a_person(served):
    """granian's RSGI gives no text for a header that is not ASCII: such an agent is a person's, not an empty
    one (a preview)."""
    server, client = served
    answer = client.get("/Tok00000013", headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14; Téléphone)"
                                                 .encode("latin-1")})
    assert answer.status_code == 302
    clicks = wait_for(lambda: (frame := read_clicks(server.bucket).filter(pl.col("id_line") == 13)).height == 1
                      and frame, seconds=10)
    assert clicks.select("kind", "agent_class", "bot").row(0) == ("click", "person", False)
    assert clicks["user_agent"][0] in ("Mozilla/5.0 (Linux; Android 14; Téléphone)",  # uvicorn (ASGI)
                                       UNREADABLE_AGENT)  # granian (RSGI)


def test_url5_a_percent_encoded_path_gets_the_same_answer_on_both_servers(served):
    """granian's RSGI gives the path decoded; uvicorn's decoded path is read too: /Tok0000000%39 is /Tok00000009
    on both (only a recorded target is ever redirected to), /Tok00000003%2Fpreview.png its preview image."""
    _, client = served
    answer = client.get("/Tok0000000%39", headers={"User-Agent": BROWSER})
    assert answer.status_code == 302 and answer.headers["location"].startswith("https://shop.example.com/vip?id=9&")
    image = client.get("/Tok00000003%2Fpreview.png", headers={"User-Agent": WHATSAPP})
    assert (image.status_code, image.content) == (200, PNG)


def test_url5_a_huge_user_agent_is_cut_to_512_characters_before_it_is_classified_or_logged(served):
    server, client = served
    agent = BROWSER + " " + "x" * 65_000
    assert client.get("/Tok00000017", headers={"User-Agent": agent}).status_code == 302
    clicks = wait_for(lambda: (frame := read_clicks(server.bucket).filter(pl.col("id_line") == 17)).height == 1
                      and frame, seconds=10)
    assert clicks["user_agent"][0] == agent[:512] and clicks["agent_class"][0] == "person"


@pytest.mark.parametrize("path", ["/Tok99999999", "/short", "/Tok0000000%21", "/../etc/passwd", "/", "/a/b/c"])
def test_url5_unknown_or_malformed_tokens_are_404(served, path):
    _, client = served
    answer = client.get(path, headers={"User-Agent": BROWSER})
    assert answer.status_code == 404 and "Lien introuvable" in answer.text


def test_url5_only_get_and_head_are_answered(served):
    _, client = served
    answer = client.post("/Tok00000005", headers={"User-Agent": BROWSER})
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD"


def test_url5_an_expired_link_is_410(served):
    _, client = served
    answer = client.get("/Expired0001", headers={"User-Agent": BROWSER})
    assert answer.status_code == 410 and "location" not in answer.headers


def test_url3_a_campaign_planned_after_start_is_served_within_seconds(served):
    server, client = served
    assert client.get("/LateTok0001", headers={"User-Agent": BROWSER}).status_code == 404
    plan_links(server.bucket, "late", ["LateTok0001"])
    answer = wait_for(lambda: (r := client.get("/LateTok0001", headers={"User-Agent": BROWSER})).status_code
                      == 302 and r, seconds=10)
    assert answer.headers["location"] == "https://shop.example.com/vip?id=1&c=%C3%A9t%C3%A9"


def test_url3_url4_a_campaign_planned_by_smsflow_plan_is_served_as_planned(served):
    """The plan's own links.parquet (URL-1, URL-2), not a fixture: its targets, previews and image."""
    from helpers import smsflow, write_list, write_spec
    from PIL import Image

    server, client = served
    incoming = server.bucket.parent / "incoming"
    write_list(incoming / "clients.csv", "Mobile;Prénom;ID\n0611111111;Ann;A 1\n0622222222;Léo;B2\n")
    Image.new("RGB", (600, 280), "orange").save(incoming / "soldes.jpg", format="JPEG")
    spec = write_spec(incoming, type="marketing", lists=["clients.csv"],
                      message="${Prénom}, -20 % sur https://www.monsite.com/id=${ID}. STOP 36184",
                      tracking={"domain": "sms.ex.fr", "preview": {"title": "${Prénom}, vos soldes",
                                                                 "description": "Jusqu'à -20 %",
                                                                 "image": "soldes.jpg"}})
    planned = smsflow("plan", str(spec), "--no-contracts", "--out", str(server.bucket / "campaigns/real/plan"),
                      env={**os.environ, "SMSFLOW_BUCKET": str(server.bucket)})
    assert planned.returncode == 0, planned.stderr
    links = pl.read_parquet(server.bucket / "campaigns/real/plan/links.parquet").sort("id_line")
    first = links.row(0, named=True)
    answer = wait_for(lambda: (r := client.get(f"/{first['token']}", headers={"User-Agent": BROWSER})).status_code
                      == 302 and r, seconds=10)
    assert answer.headers["location"] == first["target"] == "https://www.monsite.com/id=A%201"
    page = client.get(f"/{first['token']}", headers={"User-Agent": WHATSAPP}).text
    assert '<meta property="og:title" content="Ann, vos soldes">' in page
    assert f'<meta property="og:image" content="https://{first["short_url"]}/preview.jpg">' in page
    image = client.get(f"/{first['token']}/preview.jpg")
    assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"


def test_url3_events_are_rolled_to_parquet_with_the_clicks_schema(served):
    server, client = served
    client.get("/Tok00000011", headers={"User-Agent": BROWSER})
    client.get("/Tok00000011", headers={"User-Agent": WHATSAPP})
    client.head("/Tok00000012", headers={"User-Agent": BROWSER})
    clicks = wait_for(lambda: (frame := read_clicks(server.bucket)).filter(pl.col("id_line") == 11).height == 2
                      and frame.filter(pl.col("id_line") == 12).height == 1 and frame, seconds=10)
    assert clicks.filter(pl.col("id_line") == 12).select("kind", "agent_class").row(0) == ("preview", "person")
    assert dict(clicks.schema) == CLICKS_SCHEMA
    rows = clicks.filter(pl.col("id_line") == 11).sort("kind").to_dicts()
    assert [(r["kind"], r["agent_class"], r["bot"], r["campaign_id"], r["ref_list"], r["link"]) for r in rows] == [
        ("click", "person", False, "soldes", "crm.csv", 1), ("preview", "crawler:whatsapp", True, "soldes",
                                                            "crm.csv", 1)]
    assert {r["ip_prefix"] for r in rows} == {"127.0.0.0/24"} and rows[0]["user_agent"] == BROWSER
    assert not list(server.bucket.joinpath("events").glob("*.parquet"))  # the receiver's folder stays its own


@pytest.mark.parametrize("server_name", SERVERS)
def test_url3_sigkill_loses_none_of_the_clicks_it_answered(tmp_path, server_name):
    bucket = tmp_path / "bucket"
    tokens = [f"Kill{i:07d}" for i in range(1, 21)]
    plan_links(bucket, "kill", tokens)
    server = Server(bucket, server_name)
    answered = 0
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=5) as client:
        for round_ in range(6):
            for token in tokens:
                answered += client.get(f"/{token}", headers={"User-Agent": BROWSER}).status_code == 302
    server.stop(signal.SIGKILL)
    assert answered == 120
    segments = list(log_folder(bucket).glob("*.open"))  # the killed worker's segments, the last never closed
    lines = sum(path.read_bytes().count(b"\n") for path in log_folder(bucket).glob("*.jsonl*"))
    assert segments and lines + read_clicks(bucket).height == answered
    roll(bucket)  # what the next server's roller does: the dead worker's segment (its flock is free) is rolled
    clicks = read_clicks(bucket)
    assert clicks.height == answered == clicks.filter(pl.col("kind") == "click").height
    assert clicks.group_by("token").len()["len"].to_list() == [6] * 20
    assert roll(bucket) == [] and read_clicks(bucket).height == answered  # rolled once, never twice
    assert os.listdir(log_folder(bucket)) == []


@pytest.mark.parametrize("server_name", SERVERS)
def test_url3_a_stopped_server_rolls_every_event_it_answered(tmp_path, server_name):
    """SIGTERM: each worker's shutdown (RSGI's __rsgi_del__, ASGI's lifespan) closes its segment and rolls it."""
    bucket = tmp_path / "bucket"
    tokens = [f"Stop{i:07d}" for i in range(1, 6)]
    plan_links(bucket, "stop", tokens)
    server = Server(bucket, server_name, roll=600)  # no roll while it serves: the one at shutdown
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=5) as client:
        answered = sum(client.get(f"/{token}", headers={"User-Agent": BROWSER}).status_code == 302
                       for token in tokens)
    assert read_clicks(bucket).height == 0
    server.stop()
    assert answered == 5 and read_clicks(bucket).height == 5
    assert os.listdir(log_folder(bucket)) == []
