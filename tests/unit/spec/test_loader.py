"""CAMP-2, SEND-1, LIST-4: a spec file read safely (pipelines/spec/loader.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
import yaml
from helpers import bucket_and_a_secret_outside, write_list

from pipelines.spec import SpecError, load_spec

FULL = """
name: Soldes VIP
type: marketing
billing_code: MKT-42
description: Soldes d'hiver
lists: [clients.csv, crm/export.txt]
recipients:
  - {mobile: "06 12 34 56 78", Prénom: Ann}
sender: MABOUTIQUE
message: "Bonjour ${Prénom} ... STOP 36184"
defaults: {Civilité: "Mme/M"}
options:
  ucs2: false
  emojis: false
  replace_non_gsm7: true
  max_parts: 6
account:
  allowed_countries: [FR]
  blacklists: {own: own.csv, global: global.csv, client: client.csv}
  credits: 100000
send_at: null
test: {numbers: "0612345678;0698765432", row: 1}
"""


def test_camp2_the_documented_spec_loads(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(FULL, encoding="utf-8")
    write_list(tmp_path / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    write_list(tmp_path / "crm" / "export.txt", "GSM|Prénom|Ville\n0622222222|Léo|Nîmes\n")
    for name in ("own.csv", "global.csv", "client.csv"):
        write_list(tmp_path / name, "0633333333\n")
    spec = load_spec(path)
    assert spec.name == "Soldes VIP" and spec.type == "marketing" and spec.billing_code == "MKT-42"
    assert spec.lists == ["clients.csv", "crm/export.txt"]
    assert spec.account.blacklists.global_ == "global.csv"
    assert spec.account.credits == 100000 and spec.options.max_parts == 6
    assert spec.test.number_list == ["0612345678", "0698765432"]


def test_camp2_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmessage: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"line \d+"):
        load_spec(path)


BOMB_LEVELS = "\n".join(f"{chr(98 + level)}: &{chr(98 + level)} [" + ", ".join([f"*{chr(97 + level)}"] * 9) + "]"
                        for level in range(8))

WIDE_BOMB = 'name: x\ntype: notification\nmessage: m\na: &a ["lol", "lol"]\n' + BOMB_LEVELS + "\nlists: [*i, *i]\n"

DEEP_BOMB = 'name: x\ntype: notification\nmessage: m\na0: &a0 ["lol", "lol"]\n' + "\n".join(
    f"a{level}: &a{level} [*a{level - 1}, *a{level - 1}]" for level in range(1, 25)) + "\nlists: [*a24]\n"


@pytest.mark.parametrize("text, reason", [
    (WIDE_BOMB, "more than 50 aliases"),
    (DEEP_BOMB, "more than 1,000,000 values once aliases are expanded"),
    ("name: x\ntype: notification\nmessage: m\nlists: &a [*a]\n", "recursive alias"),
])
def test_camp2_yaml_alias_bomb_refused_before_expansion(tmp_path, text, reason):
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    (problem,) = error.value.problems
    assert (problem.field, problem.rule) == ("(file)", "CAMP-2") and reason in problem.message
    assert len(str(error.value)) < 500


def test_camp2_yaml_with_a_few_aliases_loads(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: x\ntype: notification\nmessage: m\nshared: &lists [a.csv, b.csv]\n", encoding="utf-8")
    with pytest.raises(SpecError, match="shared"):  # the anchor's own field is unknown, the alias is fine
        load_spec(path)
    path.write_text("name: &n x\ntype: notification\nmessage: m\nlists: [*n]\ndescription: *n\n", encoding="utf-8")
    assert load_spec(path, check_files=False).lists == ["x"]


def test_camp2_spec_file_over_the_size_cap_refused_unread(tmp_path):
    from pipelines.spec import MAX_SPEC_BYTES

    path = tmp_path / "spec.yaml"
    with path.open("wb") as file:
        file.truncate(MAX_SPEC_BYTES * 1000)  # sparse: 2 GB that were never written
    with pytest.raises(SpecError, match="larger than 2,000,000 bytes"):
        load_spec(path)


def test_camp2_spec_file_not_utf8_is_a_refusal(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes("name: Crème\n".encode("utf-16"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(path)


NOW = datetime.fromisoformat("2026-03-05T14:00:00+01:00")

NOTIFICATION = {"name": "x", "type": "notification", "message": "Votre colis", "lists": ["a"]}


def test_send1_an_accepted_spec_read_again_later_is_not_refused_for_its_past_send_at(tmp_path):
    write_list(tmp_path / "a", "Mobile\n0611111111\n")
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**NOTIFICATION, "send_at": "2026-03-05T14:30:00+01:00"}), encoding="utf-8")
    send_at = datetime.fromisoformat("2026-03-05T14:30:00+01:00")
    assert load_spec(path, now=NOW).send_at == send_at  # submitted at NOW: accepted
    later = NOW.replace(day=6)
    with pytest.raises(SpecError, match="SEND-1"):
        load_spec(path, now=later)
    assert load_spec(path).send_at == send_at  # a re-read (no `now`) by a later task still loads


def test_list4_spec_file_outside_the_roots_is_not_opened(tmp_path):
    bucket, outside = bucket_and_a_secret_outside(tmp_path)
    with pytest.raises(SpecError) as error:
        load_spec(outside, roots=[bucket])
    assert "outside the folders" in str(error.value) and "SECRET-LINE" not in str(error.value)
    spec = bucket / "spec.yaml"
    spec.write_text(yaml.safe_dump({**NOTIFICATION, "lists": ["lists/ok.csv", "lists/link.csv"]}), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(spec, roots=[bucket])
    assert [p.value for p in error.value.problems] == ["lists/link.csv"]


def test_camp2_a_file_that_is_not_a_spec_is_refused_without_echoing_it(tmp_path):
    _, outside = bucket_and_a_secret_outside(tmp_path)
    with pytest.raises(SpecError) as error:
        load_spec(outside)
    assert "mapping of fields" in str(error.value) and "SECRET-LINE" not in str(error.value)
