"""`smsflow blacklist add|remove|list|import|export|history` (BL-1, PLUS-6) as a user runs them, on both stores."""

from __future__ import annotations

import json
import os

from helpers import smsflow, smsflow_here, write_list


def run(store_url: str, *args: str):
    return smsflow_here("blacklist", *args, env={"SMSFLOW_DB": store_url})


def listed(store_url: str, *args: str) -> list[str]:
    result = run(store_url, "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return [row["number"] for row in json.loads(result.stdout)]


def test_bl1_cli_add_list_remove_with_json(store_url):
    result = run(store_url, "add", "06 11 11 11 11", "+33622222222", "0611111111", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"kind": "own", "account": "default", "asked": 3, "added": 2}
    assert listed(store_url) == ["+33611111111", "+33622222222"]
    assert listed(store_url, "--search", "2222") == ["+33622222222"]
    result = run(store_url, "remove", "0622222222")
    assert result.returncode == 0 and "1 number removed" in result.stderr
    assert listed(store_url) == ["+33611111111"]
    history = json.loads(run(store_url, "history", "+33611111111", "--json").stdout)
    assert [(row["action"], row["kind"]) for row in history] == [("add", "own")]


def test_bl1_cli_global_and_client_kinds(store_url):
    env = {**os.environ, "SMSFLOW_DB": store_url}
    assert run(store_url, "add", "0633333333", "--kind", "global").returncode == 0
    refused = run(store_url, "add", "0644444444", "--kind", "client", "--account", "acme")
    assert refused.returncode == 2 and "no account 'acme'" in refused.stderr
    assert smsflow("account", "create", "acme", "--client", "bigco", env=env).returncode == 0
    assert run(store_url, "add", "0644444444", "--kind", "client", "--account", "acme").returncode == 0
    assert listed(store_url, "--kind", "client", "--account", "acme") == ["+33644444444"]
    assert listed(store_url, "--kind", "global", "--account", "acme") == ["+33633333333"]
    assert listed(store_url, "--kind", "client") == []  # the default account has no client
    refused = run(store_url, "add", "0655555555", "--kind", "client")
    assert refused.returncode == 2 and "has no client" in refused.stderr and "[BL-1]" in refused.stderr


def test_bl1_cli_import_export_round_trip_of_a_windows_1252_csv(store_url, tmp_path):
    source = write_list(tmp_path / "désinscrits.csv", "Nom;Prénom;GSM\r\nLefèvre;Zoé;06 11 11 11 11\r\n"
                        "Müller;Jörg;0622222222\r\n", encoding="cp1252")
    result = run(store_url, "import", str(source), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 2
    exported = tmp_path / "export.csv"
    assert run(store_url, "export", str(exported)).returncode == 0
    env = {**os.environ, "SMSFLOW_DB": store_url}
    assert smsflow("account", "create", "acme", env=env).returncode == 0
    assert run(store_url, "import", str(exported), "--account", "acme").returncode == 0
    assert listed(store_url, "--account", "acme") == listed(store_url) == ["+33611111111", "+33622222222"]
    refused = run(store_url, "import", str(write_list(tmp_path / "bad.csv", "Nom;Téléphone\nZoé;0633333333\n")))
    assert refused.returncode == 2 and "no mobile number column" in refused.stderr
