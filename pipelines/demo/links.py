"""The short-link service in the demos (issue 12, URL-3, URL-4): `smsflow links serve` next to the simulator (and
Airflow), a preview image for the demo spec, and a few of the campaign's links clicked as a person and as
WhatsApp would, their events then loaded into the warehouse.

The demo's short links (`smsf.link/<token>`) cannot resolve on the Internet: the demo asks the local service
directly, `http://127.0.0.1:<port>/<token>`, as the phone would ask the service behind the domain.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
LINKS_PORT = 8090  # the service's default; another free port when it is taken
LINKS_LOG = "links.log"
BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.5 Mobile/15E148 Safari/604.1")
WHATSAPP = "WhatsApp/2.23.20.0 A"


def write_preview_image(path: Path) -> Path:
    """The demo's preview image (URL-4): a 600×280 JPEG, drawn with Pillow (a few kB)."""
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (600, 280), (180, 20, 60))
    draw = ImageDraw.Draw(image)
    draw.rectangle((24, 24, 576, 256), outline=(255, 255, 255), width=4)
    draw.text((300, 120), "SOLDES D'HIVER VIP", fill=(255, 255, 255), anchor="mm", font_size=40)
    draw.text((300, 180), "-20 % sur toute la boutique", fill=(255, 230, 200), anchor="mm", font_size=24)
    image.save(path, format="JPEG", quality=85)
    return path


def free_links_port(host: str = LOOPBACK, preferred: int = LINKS_PORT) -> int:
    """`preferred` when nothing listens there, else a port the system picks."""
    with socket.socket() as probe:
        try:
            probe.bind((host, preferred))
            return preferred
        except OSError:
            probe.bind((host, 0))
            return probe.getsockname()[1]


def start_links(bucket: Path, log: Path, host: str = LOOPBACK, port: int | None = None,
                environment: dict[str, str] | None = None, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """`smsflow links serve --bucket BUCKET --host HOST --port PORT` in a session of its own (its granian workers
    are in it: a scan of the session finds them all); returns the process and its address once it answers."""
    import httpx

    port = port or free_links_port(host)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "links", "serve", "--bucket", str(bucket),
                                    "--host", host, "--port", str(port), "--poll", "1", "--roll", "1"],
                                   env=environment, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT,
                                   start_new_session=True)
    url = f"http://{LOOPBACK if host in ('0.0.0.0', '') else host}:{port}"
    began = time.monotonic()
    while True:
        if process.poll() is not None or time.monotonic() - began > timeout:
            stop_links(process)
            raise RuntimeError(f"the short-link service did not start; see {log}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)


def stop_links(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM (each worker closes its click segment), SIGKILL to its whole session after `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def click_links(url: str, plan_dir: Path, out: Console, people: int = 3, crawlers: int = 2) -> int:
    """The first `people` links of the plan clicked as a person's browser (302 expected), the next `crawlers`
    fetched as WhatsApp's preview (200 with its OpenGraph tags expected), on the local service at `url`;
    returns the events answered (each one recorded by the service)."""
    import httpx
    import polars as pl

    from pipelines.links.index import LINKS_FILE

    path = plan_dir / LINKS_FILE
    if not path.is_file():
        out.print("   No tracked links in this plan (its spec has no `tracking:`): nothing to click")
        return 0
    links = pl.read_parquet(path, columns=["token", "short_url", "target"]).head(people + crawlers)
    answered = 0
    with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as client:
        for number, (token, short, target) in enumerate(links.iter_rows()):
            person = number < people
            answer = client.get(f"/{token}", headers={"User-Agent": BROWSER if person else WHATSAPP})
            if person:
                ok = answer.status_code == 302 and answer.headers.get("location") == target
                said = f"{answer.status_code} → {answer.headers.get('location')}"
            else:
                ok = answer.status_code == 200 and 'property="og:title"' in answer.text
                title = answer.text.partition('property="og:title" content="')[2].partition('"')[0]
                said = f"{answer.status_code}, preview « {title} »"
            answered += ok
            out.print(f"   {'person  ' if person else 'WhatsApp'} {short} ({url}/{token}): {said}"
                      + ("" if ok else " [red](unexpected)[/]"), soft_wrap=True, highlight=False)
    return answered


def load_clicks(bucket: Path, database, campaign: str, expected: int, out: Console, timeout: float = 30) -> int:
    """The service's click batches (rolled every second into bucket/events/links) loaded into the warehouse's
    `clicks` table until it holds `expected` events of `campaign` (or `timeout`: another loader of the bucket, the
    sms_events DAG say, may load the same files: loading is idempotent); returns the campaign's events there."""
    from pipelines.links.load import batch_files, load_click_batches
    from pipelines.warehouse import connect

    began = time.monotonic()
    while True:
        load_click_batches(database, bucket)
        with connect(database, read_only=True) as connection:
            held = connection.execute("SELECT count(*) FROM clicks WHERE campaign_id = ?", [campaign]).fetchone()[0]
        if held >= expected or time.monotonic() - began > timeout:
            break
        time.sleep(0.5)
    out.print(f"   {held:,} click and preview events of the campaign in the warehouse's clicks table, loaded from the "
              f"service's Parquet batches ({len(batch_files(bucket))} in {bucket / 'events' / 'links'})",
              soft_wrap=True, highlight=False)
    return held
