"""URL-3 with the bucket on S3 (issue 13): `smsflow links serve` serves the plans of an s3:// bucket from its
working copy (a campaign planned after it started is served within a few seconds) and its rolled click batches
reach S3, where the lake's loads read them."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import httpx
from test_links_serve import BROWSER, SMSFLOW, free_port, plan_links, port_open, wait_for

from pipelines import storage


def test_url3_the_links_service_serves_an_s3_bucket_and_sends_its_clicks_there(s3_server, tmp_path):
    bucket = s3_server.url("tenant")
    staging = tmp_path / "staging"  # plans written as the plan writes them, then put on S3
    plan_links(staging, "soldes", [f"Tok{i:08d}" for i in range(1, 6)])
    for path in sorted((staging / "campaigns").rglob("*"), key=lambda path: path.name == ".smsflow-plan"):
        if path.is_file():
            storage.upload(path, f"{bucket}/{path.relative_to(staging).as_posix()}")
    port = free_port()
    env = {**os.environ, "SMSFLOW_BUCKET": bucket, "SMSFLOW_WORKDIR": str(tmp_path / "work")}
    log = (tmp_path / "links.log").open("w")
    process = subprocess.Popen([str(SMSFLOW), "links", "serve", "--port", str(port), "--poll", "0.3", "--roll",
                                "0.5", "--server", "uvicorn"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False, timeout=5)
        wait_for(lambda: _healthy(client), seconds=60)
        answer = client.get("/Tok00000002", headers={"User-Agent": BROWSER})
        assert answer.status_code == 302, (tmp_path / "links.log").read_text()
        # a campaign planned on S3 after the service started: pulled and served without a restart
        later = tmp_path / "later"
        plan_links(later, "rentree", ["Late0000001"])
        for path in sorted((later / "campaigns").rglob("*"), key=lambda path: path.name == ".smsflow-plan"):
            if path.is_file():
                storage.upload(path, f"{bucket}/{path.relative_to(later).as_posix()}")
        wait_for(lambda: client.get("/Late0000001", headers={"User-Agent": BROWSER}).status_code == 302,
                 seconds=30)
        # the rolled click batches reach S3 (events/links/*.parquet)
        wait_for(lambda: any(str(url).endswith(".parquet")
                             for url in storage.listing(f"{bucket}/events/links/")), seconds=30)
        client.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        wait_for(lambda: not port_open(port), seconds=15)
        log.close()
    assert "Short links: serving 5 links of 1 campaign from s3://" in (tmp_path / "links.log").read_text()
    shutil.rmtree(tmp_path / "work")


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        time.sleep(0.1)
        return False
