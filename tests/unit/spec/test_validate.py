"""A spec validated once, every problem named with its rule: CAMP-2, MSG-1, MSG-2, LIST-4, LIST-5, SEND-1, SEND-2
(pipelines/spec/validate.py)."""

from __future__ import annotations

from datetime import datetime

import pytest
from helpers import bucket_and_a_secret_outside

from pipelines.spec import SpecError, clip, validate_spec


def test_camp2_every_problem_reported_at_once_with_field_value_and_rule():
    raw = {
        "type": "marketing", "message": "Promo !", "sender": "MA BOUTIQUE 2024", "mesage": "typo",
        "options": {"max_parts": 9, "emojis": True}, "account": {"allowed_countries": ["FR", "XX"]},
        "test": {"numbers": "0123456789"}, "lists": ["a.csv"],
    }
    with pytest.raises(SpecError) as error:
        validate_spec(raw)
    problems = {(p.field, p.rule) for p in error.value.problems}
    assert {("name", "CAMP-1"), ("message", "MSG-2"), ("sender", "MSG-1"), ("mesage", "CAMP-2"),
            ("options.max_parts", "ENC-5"), ("options.emojis", "ENC-3"), ("account.allowed_countries", "NUM-2"),
            ("test.numbers", "SEND-3")} <= problems
    by_field = {p.field: p for p in error.value.problems}
    assert by_field["sender"].value == "MA BOUTIQUE 2024"
    assert by_field["options.max_parts"].value == 9
    assert "STOP 36184" in str(error.value)


@pytest.mark.parametrize("sender", ["ABCDEFGHIJKL", "BOUTIQUÉ", "MA-BOUTIQUE", "0612345678", "36 18 4"])
def test_msg1_bad_senders_refused(sender):
    with pytest.raises(SpecError) as error:
        validate_spec({"name": "x", "type": "notification", "message": "m", "sender": sender, "lists": ["a"]})
    assert [p.rule for p in error.value.problems] == ["MSG-1"]


@pytest.mark.parametrize("sender, expected", [(None, "36184"), ("", "36184"), ("MA BOUTIQUE", "MA BOUTIQUE"),
                                              ("Promo2024", "Promo2024")])
def test_msg1_sender_or_short_code(sender, expected):
    spec = validate_spec({"name": "x", "type": "notification", "message": "m", "sender": sender, "lists": ["a"]})
    assert spec.sender_or_default == expected


@pytest.mark.parametrize("message", ["Promo STOP 36184", "Promo stop au 36184", "STOP  36184 !"])
def test_msg2_marketing_with_stop_mention_accepted(message):
    assert validate_spec({"name": "x", "message": message, "lists": ["a"]}).type == "marketing"


def test_msg2_notification_needs_no_stop_mention():
    spec = validate_spec({"name": "x", "type": "notification", "message": "Votre colis", "lists": ["a"]})
    assert (spec.type, spec.message) == ("notification", "Votre colis")


def test_list4_a_campaign_needs_a_list_or_recipients():
    with pytest.raises(SpecError) as error:
        validate_spec({"name": "x", "type": "notification", "message": "m"})
    assert error.value.problems[0].rule == "LIST-4"


def test_list5_manual_entries_need_a_mobile():
    with pytest.raises(SpecError) as error:
        validate_spec({"name": "x", "type": "notification", "message": "m", "recipients": [{"Prénom": "Ann"}]})
    assert error.value.problems[0].rule == "LIST-5"


def test_send1_send_at_without_offset_is_paris_time():
    spec = validate_spec({"name": "x", "type": "notification", "message": "m", "lists": ["a"],
                          "send_at": "2026-12-01T09:30:00"})
    assert spec.send_at.utcoffset().total_seconds() == 3600
    assert spec.send_at == datetime.fromisoformat("2026-12-01T08:30:00+00:00")


def test_send2_marketing_schedule_outside_the_window_refused_with_next_allowed_time():
    with pytest.raises(SpecError) as error:
        validate_spec({"name": "x", "message": "Promo STOP 36184", "lists": ["a"], "send_at": "2026-11-29T10:00:00"})
    (problem,) = error.value.problems
    assert (problem.field, problem.rule) == ("send_at", "SEND-2")
    assert "30/11/2026 08:00" in problem.message
    notification = validate_spec({"name": "x", "type": "notification", "message": "Colis", "lists": ["a"],
                                  "send_at": "2026-11-29T10:00:00"})  # notifications are not bound by the window
    assert notification.send_at == datetime.fromisoformat("2026-11-29T10:00:00+01:00")
    charter = validate_spec({"name": "x", "message": "Promo STOP 36184", "lists": ["a"], "send_at": "2026-11-28T21:00",
                             "account": {"send_window": "charter-2024"}})  # 21:00 is inside the charter's hours
    assert charter.send_at == datetime.fromisoformat("2026-11-28T21:00:00+01:00")


def test_camp2_refusals_never_echo_huge_values():
    raw = {"name": "x", "message": "Promo " + "x" * 1_000_000, "sender": "é" * 1_000_000,
           "lists": [{"n": list(range(1000))}] * 10_000}
    with pytest.raises(SpecError) as error:
        validate_spec(raw)
    text = str(error.value)
    assert len(text) < 8_000 and "… and" in text
    by_field = {p.field: p for p in error.value.problems}
    assert by_field["message"].rule == "MSG-2" and by_field["message"].value.endswith("(1,000,006 characters)")
    assert len(by_field["message"].value) < 120 and len(by_field["sender"].value) < 120
    assert all(len(str(problem)) < 600 for problem in error.value.problems)


NOW = datetime.fromisoformat("2026-03-05T14:00:00+01:00")

NOTIFICATION = {"name": "x", "type": "notification", "message": "Votre colis", "lists": ["a"]}


def test_send1_send_at_in_the_past_refused_naming_now():
    with pytest.raises(SpecError) as error:
        validate_spec({**NOTIFICATION, "send_at": "2026-03-05T12:00:00"}, now=NOW)
    (problem,) = error.value.problems
    assert (problem.field, problem.rule, problem.value) == ("send_at", "SEND-1", "2026-03-05T12:00:00")
    assert "past" in problem.message and "05/03/2026 14:00" in problem.message


def test_send1_send_at_within_a_minute_or_later_accepted():
    assert validate_spec({**NOTIFICATION, "send_at": "2026-03-05T13:59:30"}, now=NOW)
    assert validate_spec({**NOTIFICATION, "send_at": "2026-03-05T14:30:00+01:00"}, now=NOW)


def test_list4_lists_outside_the_roots_refused_without_reading_them(tmp_path):
    bucket, outside = bucket_and_a_secret_outside(tmp_path)
    escape_up = "../" * 12 + str(outside).lstrip("/")
    raw = {**NOTIFICATION, "lists": ["lists/ok.csv", escape_up, str(outside), f"file://{outside}", "lists/link.csv",
                                     "lists/../lists/ok.csv"],
           "account": {"blacklists": {"global": str(outside), "own": "lists/ok.csv"}}}
    with pytest.raises(SpecError) as error:
        validate_spec(raw, "trigger form", roots=[bucket])
    refused = [(p.field, p.rule, p.value) for p in error.value.problems]
    assert refused == [("lists", "LIST-4", clip(escape_up)), ("lists", "LIST-4", clip(str(outside))),
                       ("lists", "LIST-4", clip(f"file://{outside}")), ("lists", "LIST-4", "lists/link.csv"),
                       ("account.blacklists.global", "BL-1", clip(str(outside)))]
    assert "SECRET-LINE" not in str(error.value) and "outside the folders" in str(error.value)
    assert validate_spec({**raw, "lists": ["lists/ok.csv"], "account": {}}, roots=[bucket]).lists == ["lists/ok.csv"]
    assert validate_spec(raw).lists == raw["lists"]  # without roots (the CLI), a user's own paths are fine


def test_camp2_the_form_path_checks_the_files_it_names_from_the_bucket_and_a_stored_spec_does_not(tmp_path):
    """With `base` (the trigger form: the bucket), the lists and fields are checked with the schema; without it
    (a spec stored in the account store, checked again when it runs) only the schema is."""
    from helpers import write_list

    write_list(tmp_path / "incoming" / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    raw = {"name": "x", "type": "notification", "message": "Bonjour ${Prenom} ${Nom}",
           "lists": ["incoming/clients.csv", "incoming/gone.csv"]}
    with pytest.raises(SpecError) as error:
        validate_spec(raw, roots=[tmp_path], base=tmp_path)
    assert [(problem.field, problem.value, problem.rule) for problem in error.value.problems] == [
        ("lists", "incoming/gone.csv", "LIST-1"), ("message", "${Prenom}", "MSG-3"), ("message", "${Nom}", "MSG-3")]
    assert "did you mean ${Prénom}?" in str(error.value)
    assert validate_spec(raw).lists == raw["lists"]
    assert validate_spec(raw, roots=[tmp_path], base=tmp_path, check_files=False).name == "x"


def test_camp2_an_unknown_spec_field_names_the_nearest_one_at_its_level():
    raw = {"name": "x", "type": "notification", "message": "m", "mesage": "m", "zzz": 1,
           "options": {"ucs": True}, "account": {"blacklists": {"globl": "g.csv"}},
           "lists": [{"saved": "v", "verion": 2}]}
    with pytest.raises(SpecError) as error:
        validate_spec(raw)
    said = {problem.field: problem.message for problem in error.value.problems}
    assert said == {"mesage": "unknown field — did you mean 'message'?", "zzz": "unknown field",
                    "options.ucs": "unknown field — did you mean 'options.ucs2'?",
                    "account.blacklists.globl": "unknown field — did you mean 'account.blacklists.global'?",
                    "lists.verion": "unknown field — did you mean 'lists.version'?"}
