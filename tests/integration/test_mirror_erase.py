"""PLUS-8 with the bucket on S3 (issue 13): `smsflow erase` pulls the bucket into its working copy, rewrites the files
that hold the number and pushes them back, so the objects on S3 no longer hold it; the host's own SQLite files are
never sent to S3."""

from __future__ import annotations

import json

from helpers import smsflow_here

from pipelines import storage


def test_plus8_smsflow_erase_rewrites_the_objects_of_an_s3_bucket(s3_server, tmp_path):
    bucket = s3_server.url("tenant")
    storage.write_bytes(f"{bucket}/lists/a.csv", "Mobile;Nom\n0611111111;Zoé\n0622222222;Bob\n".encode())
    storage.write_bytes(f"{bucket}/campaigns/c1/dispatch/ledger/b0.jsonl", b'{"to": "+33611111111"}\n')
    env = {"SMSFLOW_DB": f"sqlite:///{tmp_path / 'work' / 'smsflow.db'}", "SMSFLOW_WORKDIR": str(tmp_path / "work")}
    result = smsflow_here("erase", "06 11 11 11 11", "--bucket", bucket, "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["files"]) == ["campaigns/c1/dispatch/ledger/b0.jsonl", "lists/a.csv"]
    assert storage.read_bytes(f"{bucket}/lists/a.csv").decode() == \
        f"Mobile;Nom\n{report['number_hash']};Zoé\n0622222222;Bob\n"
    assert b"+33611111111" not in storage.read_bytes(f"{bucket}/campaigns/c1/dispatch/ledger/b0.jsonl")
    assert (tmp_path / "work" / "smsflow.db").is_file() and not storage.exists(f"{bucket}/smsflow.db")
