"""PLUS-8 through the command line: `smsflow erase NUMBER --json` and `smsflow purge --older-than`."""

from __future__ import annotations

import json
import os

from helpers import smsflow, write_list

from pipelines.store import open_store
from pipelines.store.blacklists import add_numbers


def test_plus8_smsflow_erase_prints_what_it_erased_as_json_and_refuses_a_non_number(store_url, bucket):
    write_list(bucket / "lists" / "a.csv", "Mobile;Nom\n0611111111;Zoé\n0622222222;Bob\n")
    env = {**os.environ, "SMSFLOW_DB": store_url}
    add_numbers(open_store(store_url), "own", "default", ["0611111111"], source="stop")
    result = smsflow("erase", "06 11 11 11 11", "--bucket", str(bucket), "--by", "dpo", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"] == ["lists/a.csv"] and report["store"]["blacklist"] == 1
    assert report["number_hash"].startswith("hmac:")
    assert (bucket / "lists" / "a.csv").read_text(encoding="utf-8") == \
        f"Mobile;Nom\n{report['number_hash']};Zoé\n0622222222;Bob\n"
    refused = smsflow("erase", "nobody", "--bucket", str(bucket), env=env)
    assert refused.returncode == 2 and "PLUS-8" in refused.stderr


def test_plus8_smsflow_purge_with_nothing_old_purges_nothing(store_url, bucket):
    env = {**os.environ, "SMSFLOW_DB": store_url}
    result = smsflow("purge", "--older-than", "24m", "--bucket", str(bucket), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"campaigns": [], "older_than": "24m"}
    bad = smsflow("purge", "--older-than", "soon", "--bucket", str(bucket), env=env)
    assert bad.returncode == 2 and "PLUS-8" in bad.stderr
