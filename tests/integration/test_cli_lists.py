"""LIST-4, ACC-3: `smsflow lists ...` as a user runs it, on the store of SMSFLOW_DB (both backends)."""

from __future__ import annotations

import json

from helpers import smsflow_here, write_list


def run(store_url: str, *args: str):
    return smsflow_here("lists", *args, env={"SMSFLOW_DB": store_url})


def test_list4_import_show_search_add_remove_delete_list_from_the_cli(store_url, tmp_path):
    export = write_list(tmp_path / "clients.csv", "Prénom,Portable\r\nAndré,06 12 34 56 78\r\nZoé,0698765432\r\n",
                        encoding="cp1252")
    imported = run(store_url, "import", "clients-vip", str(export), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["version"] == 1 and "version 1, 2 recipients" in imported.stderr

    added = run(store_url, "add", "clients-vip", "+33 7 81 22 33 44", "--field", "Prénom=Léa", "--json")
    assert added.returncode == 0 and json.loads(added.stdout)["rows"] == 3, added.stderr
    found = json.loads(run(store_url, "search", "clients-vip", "0033 781223344", "--json").stdout)
    assert [(r["line"], r["fields"]) for r in found["recipients"]] == [(3, {"Prénom": "Léa"})]
    assert json.loads(run(store_url, "search", "clients-vip", "zoé", "--json").stdout)["recipients"][0]["line"] == 2

    removed = run(store_url, "remove", "clients-vip", "0612345678")
    assert removed.returncode == 0 and "version 3, 2 recipients" in removed.stderr, removed.stderr
    shown = run(store_url, "show", "clients-vip", "--version", "1")
    assert "André" in shown.stdout and "Léa" not in shown.stdout and "2 recipients" in shown.stdout
    latest = json.loads(run(store_url, "show", "clients-vip", "--limit", "1", "--json").stdout)
    assert (latest["version"], latest["rows"], len(latest["recipients"])) == (3, 2, 1)
    assert [v["change"] for v in latest["versions"]] == ["import clients.csv", "add +33781223344",
                                                          "remove +33612345678"]
    assert "clients-vip" in run(store_url, "list").stdout

    other = run(store_url, "show", "clients-vip", "--account", "acme")
    assert other.returncode == 2 and "no account 'acme'" in other.stderr  # ACC-3: an unknown account says so
    bad = run(store_url, "add", "clients-vip", "0123")
    assert bad.returncode == 2 and "'0123' is not a valid mobile number" in bad.stderr
    assert "Traceback" not in bad.stderr

    assert run(store_url, "delete", "clients-vip").returncode == 0
    assert json.loads(run(store_url, "list", "--json").stdout) == []
    gone = run(store_url, "show", "clients-vip")
    assert gone.returncode == 2 and "no saved list 'clients-vip' in account 'default'" in gone.stderr
