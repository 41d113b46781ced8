"""The plan stage: every row kept with its status, in contract order (pipelines/plan/stage.py)."""

from __future__ import annotations

import polars as pl
import pytest
from helpers import write_list, write_spec

from pipelines.plan import io as plan_io
from pipelines.plan import PLAN_COLUMNS, plan_campaign, plan_file
from pipelines.spec import SpecError, load_spec

HEADER = "Civilité;Prénom;Nom;Mobile;Ville\n"


def planned(bucket, **spec):
    result = plan_file(write_spec(bucket, **spec), bucket / "plan")
    return pl.read_parquet(result.recipients), result.summary


def test_list3_list6_plan_columns_in_contract_order_then_every_original_column(bucket):
    write_list(bucket / "a.csv", HEADER + "M.;Jean;Dupont;0612345678;Paris\n")
    write_list(bucket / "b.csv", "GSM;Prénom;Code client\n0712345678;Ann;C42\n")
    frame, _ = planned(bucket, lists=["a.csv", "b.csv"], recipients=[{"mobile": "0698765432", "Email": "a@b.fr"}])
    assert frame.columns == list(PLAN_COLUMNS) + ["Civilité", "Prénom", "Nom", "Mobile", "Ville", "GSM",
                                                  "Code client", "Email"]
    assert frame.select("REF_LIST", "ID_LINE").rows() == [("a.csv", 1), ("b.csv", 1), ("manual", 1)]
    assert frame.get_column("MOBILE_RAW").to_list() == ["0612345678", "0712345678", "0698765432"]
    assert frame.get_column("Code client").to_list() == [None, "C42", None]


def test_plus2_plan_keeps_every_row_and_gives_each_its_status(bucket):
    rows = ["M.;Jean;Dupont;06 12 34 56 78;Paris", "Mme;Ann;Bégué;01 23 45 67 89;Nîmes", ";;;;",
            "M.;Luc;Roux;+32 470 12 34 56;Liège", "Mme;Zoé;Côté;0612345678;Lyon"]
    write_list(bucket / "a.csv", HEADER + "\n".join(rows) + "\n")
    frame, summary = planned(bucket, lists=["a.csv"])
    assert frame.height == 5
    assert frame.get_column("STATUS_CODE").to_list() == [None, 2, 2, 3, 4]
    assert frame.get_column("STATUS_TEXT").to_list() == [None, "Numéro mal formaté", "Numéro mal formaté",
                                                         "Destination non autorisée", "Doublons"]
    assert frame.get_column("MESSAGE").to_list() == ["Bonjour Jean", None, None, None, None]
    assert frame.get_column("PARTS").to_list() == [1, 0, 0, 0, 0]
    assert frame.get_column("MF_ALLOW").to_list() == [True, True, False, False, True]
    assert summary["status_counts"] == {"0": 1, "2": 2, "3": 1, "4": 1}


def test_num3_duplicates_across_lists_in_spec_order_and_across_batches(bucket, monkeypatch):
    monkeypatch.setattr(plan_io, "BATCH_ROWS", 2)  # Source.batches reads it there
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;A1\nabc;A2\n0622222222;A3\n+33611111111;A4\n")
    write_list(bucket / "b.csv", "Mobile;Prénom\n06 22 22 22 22;B1\n0633333333;B2\n")
    frame, summary = planned(bucket, lists=["b.csv", "a.csv"])
    assert frame.select("REF_LIST", "Prénom", "STATUS_CODE").rows() == [
        ("b.csv", "B1", None), ("b.csv", "B2", None), ("a.csv", "A1", None), ("a.csv", "A2", 2),
        ("a.csv", "A3", 4), ("a.csv", "A4", 4)]
    assert summary["duplicates"] == 2


def test_num3_bl1_msg4_status_precedence_in_a_plan_first_that_applies_wins(bucket):
    write_list(bucket / "own.txt", "0611111111\n0622222222\n0644444444\n")
    write_list(bucket / "global.csv", "Numéro;GSM\nx;+33622222222\ny;0633333333\n")
    write_list(bucket / "client.txt", "0633333333\n0655555555\n06 66 66 66 66\n")
    rows = [
        "0611111111;Ann",        # 14 own blacklist
        "0611111111;Ann",        # 4: duplicates come before blacklists
        "0622222222;Ann",        # 14: own before global
        "0633333333;Ann",        # 15: global before client
        "0655555555;",           # 18: blacklists before personalisation
        "0666666666;Zoé",        # 18
        "0677777777;",           # 5 personalisation
        "0688888888;ж",          # 6 UCS2 not allowed
        "+32470123456;ж",        # 3 not allowed, before 6
        "0123456789;",           # 2 invalid, before everything
        "0699999999;Ann",        # sendable
    ]
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "\n".join(rows) + "\n")
    frame, summary = planned(bucket, lists=["a.csv"], options={"replace_non_gsm7": True},
                             account={"blacklists": {"own": "own.txt", "global": "global.csv",
                                                     "client": "client.txt"}})
    assert frame.get_column("STATUS_CODE").to_list() == [14, 4, 14, 15, 18, 18, 5, 6, 3, 2, None]
    assert summary["sendable"] == 1


def test_enc5_too_long_and_send5_credits_in_list_order(bucket):
    rows = ["0611111111;" + "x" * 10, "0622222222;" + "x" * 400, "0633333333;" + "x" * 200,
            "0644444444;" + "x" * 10, "0655555555;" + "x" * 10]
    write_list(bucket / "a.csv", "Mobile;Prénom\n" + "\n".join(rows) + "\n")
    frame, summary = planned(bucket, lists=["a.csv"], options={"max_parts": 2}, account={"credits": 3})
    # Row 2 has 3 parts (> 2: status 7); row 3 takes credits 2-3; row 4 would be the 4th credit: 8, and so on.
    assert frame.select("STATUS_CODE", "PARTS").rows() == [(None, 1), (7, 0), (None, 2), (8, 0), (8, 0)]
    assert summary["credits"] == 3
    assert summary["parts"] == {"1": 1, "2": 1}


def test_enc2_ucs2_option_allows_every_character(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Жанна 😀\n")
    frame, summary = planned(bucket, lists=["a.csv"], options={"ucs2": True})
    assert frame.row(0, named=True)["ENCODING"] == "UCS2"
    assert frame.row(0, named=True)["MESSAGE"] == "Bonjour Жанна 😀"
    assert summary["encodings"] == {"UCS2": 1}


def test_enc4_replacement_keeps_the_message_in_gsm7(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;François\n")
    frame, _ = planned(bucket, lists=["a.csv"], message="« Bonjour ${Prénom} » – à bientôt…")
    row = frame.row(0, named=True)
    assert (row["MESSAGE"], row["ENCODING"]) == ('" Bonjour Francois " - à bientot...', "GSM7")


def test_msg4_defaults_empty_fields_and_allow_empty(bucket):
    write_list(bucket / "a.csv", HEADER + "M.;Jean;Dupont;0611111111;\n;Ann;Roux;0622222222;\n")
    message = "Bonjour ${Civilité} ${Nom} de ${Ville}"
    frame, summary = planned(bucket, lists=["a.csv"], message=message, defaults={"Civilité": "Mme/M"})
    assert frame.get_column("STATUS_CODE").to_list() == [5, 5]  # Ville empty, no default
    assert summary["empty_fields"] == {"Civilité": 1, "Ville": 2}
    frame, _ = planned(bucket, lists=["a.csv"], message=message, defaults={"Civilité": "Mme/M"},
                       options={"allow_empty_fields": True})
    assert frame.get_column("MESSAGE").to_list() == ["Bonjour M. Dupont de ", "Bonjour Mme/M Roux de "]


def test_msg3_unknown_field_refused_before_anything_is_written(bucket):
    write_list(bucket / "a.csv", HEADER + "M.;Jean;Dupont;0611111111;Paris\n")
    with pytest.raises(SpecError, match=r"unknown field \$\{Prenom\} — did you mean \$\{Prénom\}\? .*\[MSG-3\]"):
        plan_file(write_spec(bucket, lists=["a.csv"], message="Bonjour ${Prenom}"), bucket / "plan")
    assert not (bucket / "plan").exists()


def test_num4_send4_summary_figures(bucket):
    rows = ["M.;Jean;Dupont;0611111111;Paris", "Mme;Ann;Bégué;0611111111;Nîmes", ";Luc;Roux;+32470123456;Liège",
            "M.;Léo;Petit;+262692123456;Saint-Denis", "Mme;Zoé;Côté;abc;Lyon"]
    write_list(bucket / "a.csv", HEADER + "\n".join(rows) + "\n")
    _, summary = planned(bucket, lists=["a.csv"], message="Bonjour ${Civilité} ${Nom} de ${Ville}",
                         defaults={"Civilité": "Mme/M"}, account={"allowed_countries": ["FR", "RE"]})
    assert summary["rows"] == 5 and summary["sendable"] == 2
    assert summary["status_counts"] == {"0": 2, "2": 1, "3": 1, "4": 1}
    assert summary["countries"] == {"BE": {"detected": 1, "accepted": 0}, "FR": {"detected": 2, "accepted": 2},
                                    "RE": {"detected": 1, "accepted": 1}}
    assert summary["credits"] == 2 and summary["parts"] == {"1": 2}
    assert summary["empty_fields"] == {"Civilité": 1}
    # ENC-6 worst case: the longest value of each field, whatever the row.
    assert summary["worst_case"]["message"] == "Bonjour Mme/M Dupont de Saint-Denis"
    assert summary["max_length"] == len("Bonjour Mme/M Dupont de Saint-Denis")


def test_send3_test_message_personalised_with_the_chosen_row(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Loïc\n")
    _, summary = planned(bucket, lists=["a.csv"], test={"numbers": "0612345678, 0798765432", "row": 2})
    assert summary["test"] == {"numbers": ["0612345678", "0798765432"], "row": 2, "message": "Bonjour Loic"}


def test_list3_list_columns_that_clash_with_plan_columns_are_renamed(bucket):
    write_list(bucket / "a.csv", "Mobile;MESSAGE;Prénom\n0611111111;old;Ann\n")
    frame, _ = planned(bucket, lists=["a.csv"])
    assert frame.row(0, named=True)["MESSAGE (list)"] == "old"
    assert frame.row(0, named=True)["MESSAGE"] == "Bonjour Ann"


def test_msg3_notification_without_fields_planned_for_every_row(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Luc\n0633333333;Zoé\n")
    frame, summary = planned(bucket, lists=["a.csv"], message="Votre colis arrive demain.")
    assert frame.get_column("MESSAGE").to_list() == ["Votre colis arrive demain."] * 3
    assert summary["sendable"] == 3 and summary["credits"] == 3


def test_send1_plan_file_refuses_a_past_send_time_unless_the_spec_was_accepted_earlier(bucket):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(bucket, lists=["a.csv"], send_at="2020-01-06T10:00:00")
    with pytest.raises(SpecError, match="SEND-1"):
        plan_file(spec, bucket / "plan")
    assert not (bucket / "plan").exists()
    assert plan_file(spec, bucket / "plan", check_send_at=False).summary["rows"] == 1


def test_list4_plan_with_roots_reads_only_inside_them(tmp_path, bucket):
    outside = write_list(tmp_path / "elsewhere" / "crm.csv", "Mobile;Prénom\n0611111111;SECRET\n")
    write_list(bucket / "a.csv", "Mobile;Prénom\n0622222222;Ann\n")
    (bucket / "link.csv").symlink_to(outside)
    assert plan_file(write_spec(bucket, lists=["a.csv"]), bucket / "plan", roots=[bucket]).summary["rows"] == 1
    for lists, account in ((["a.csv", str(outside)], {}), (["link.csv"], {}),
                           (["a.csv"], {"blacklists": {"client": "../elsewhere/crm.csv"}})):
        with pytest.raises(SpecError) as error:
            plan_file(write_spec(bucket, lists=lists, account=account), bucket / "plan", roots=[bucket])
        assert "outside the folders" in str(error.value) and "SECRET" not in str(error.value)
    # A spec accepted without roots is still confined when the plan runs with them (checked at read time).
    spec = load_spec(write_spec(bucket, lists=["link.csv"]))
    with pytest.raises(SpecError, match="LIST-4"):
        plan_campaign(spec, bucket, bucket / "plan", roots=[bucket])
    assert plan_file(write_spec(bucket, lists=["link.csv"]), bucket / "plan").summary["rows"] == 1  # CLI: fine
