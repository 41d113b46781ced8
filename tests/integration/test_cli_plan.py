"""`smsflow plan` as a newcomer runs it (issue 10): the plan lands in the spec's bucket unless told, the data
contract the Airflow run checks is checked here too (PLUS-3), the send window is said in words (SEND-2), and a
spec is refused with every problem of it and its files at once (CAMP-2). In-process (tests/helpers.smsflow_here)."""

from __future__ import annotations

import csv
import json
import re

from helpers import smsflow_here, write_list, write_spec

WINDOW = re.compile(r"Marketing: sent Mon–Sat 08:00–20:00, not on public holidays, in each recipient's own time "
                    r"\(SEND-2\); (open now|next opening: \w+day \d\d/\d\d 08:00 Paris)")


def _quarantined(plan) -> list[tuple[str, str]]:
    rows = csv.DictReader((plan / "quarantine.csv").read_text(encoding="utf-8-sig").splitlines(), delimiter=";")
    return [(row["MOBILE_RAW"], row["STATUS_CODE"]) for row in rows]


def test_plus3_plan_runs_the_runs_contract_writes_quarantine_and_lands_in_the_specs_bucket(tmp_path):
    bucket = tmp_path / "bucket"
    write_list(bucket / "incoming" / "clients.csv",
               "Mobile;Prénom\n0611111111;Ann\n0622222222;Léo\nabc;Zoé\n12;Max\n0633333333;Lou\n")
    spec = write_spec(bucket / "specs", type="marketing", lists=["../incoming/clients.csv"],
                      message="Bonjour ${Prénom} STOP 36184")
    env = {"SMSFLOW_BUCKET": str(bucket)}
    plan = bucket / "campaigns" / "spec" / "plan"

    broken = smsflow_here("plan", str(spec), env=env)
    assert broken.returncode == 2, broken.stderr
    assert broken.stderr.strip().splitlines()[-1] == (
        "Refused: the plan breaks its data contract: invalid numbers 40 % over the 20 % allowed "
        "(contracts.max_invalid_share) [PLUS-3]")
    assert "Traceback" not in broken.stderr + broken.stdout
    assert WINDOW.search(broken.stdout), broken.stdout
    assert f"Plan written to {plan} (recipients.parquet, summary.json; quarantine.csv: 2 rows that cannot be " \
           "sent)" in broken.stdout
    assert _quarantined(plan) == [("abc", "2"), ("12", "2")]  # the plan files stay, to look at why

    (plan / "quarantine.csv").unlink()
    skipped = smsflow_here("plan", str(spec), "--no-contracts", env=env)
    assert skipped.returncode == 0, skipped.stderr
    assert "Contract" not in skipped.stdout + skipped.stderr and _quarantined(plan) == [("abc", "2"), ("12", "2")]

    spec = write_spec(bucket / "specs", type="marketing", lists=["../incoming/clients.csv"],
                      message="Bonjour ${Prénom} STOP 36184", contracts={"max_invalid_share": 0.5})
    kept = smsflow_here("plan", str(spec), "--out", str(tmp_path / "elsewhere"), "--json", env=env)
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["sendable"] == 3  # stdout holds the JSON alone; what people read is on stderr
    assert "Contract kept: invalid numbers 40 % (up to 50 % allowed), 3 rows to send" in kept.stderr
    assert _quarantined(tmp_path / "elsewhere") == [("abc", "2"), ("12", "2")]


def test_camp2_plan_refuses_a_spec_with_every_problem_of_it_and_its_files_at_once(tmp_path):
    write_list(tmp_path / "incoming" / "phones.csv", "Nom;Téléphone\nAnn;0611111111\n")
    spec = write_spec(tmp_path / "specs", lists=["../incoming/clients.csv", "../incoming/phones.csv"],
                      sender="MA BOUTIQUE XXL", account={"blacklists": {"own": "own.csv"}})
    refused = smsflow_here("plan", str(spec), "--no-contracts")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    text = " ".join(refused.stderr.split())
    assert "the campaign spec is refused (4 problems)" in text
    for part in ("sender='MA BOUTIQUE XXL'", "[MSG-1]", "lists='../incoming/clients.csv': file not found",
                 "[LIST-1]", "lists='../incoming/phones.csv': no mobile number column", "[LIST-2]",
                 "account.blacklists.own='own.csv': blacklist file not found", "[BL-1]"):
        assert part in text, part
    assert not (tmp_path / "campaigns").exists()

    write_list(tmp_path / "incoming" / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(tmp_path / "specs", lists=["../incoming/clients.csv"], message="Bonjour ${Prenon}")
    refused = smsflow_here("plan", str(spec))
    assert refused.returncode == 2
    assert "(1 problem)" in refused.stderr and "unknown field ${Prenon} — did you mean ${Prénom}?" in refused.stderr


def test_plan_outside_a_bucket_goes_beside_the_spec_and_a_notification_is_not_held_to_the_window(tmp_path):
    write_list(tmp_path / "incoming" / "clients.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(tmp_path / "specs", lists=["../incoming/clients.csv"])
    result = smsflow_here("plan", str(spec), "--no-contracts", env={"SMSFLOW_BUCKET": str(tmp_path / "bucket")})
    assert result.returncode == 0, result.stderr
    plan = tmp_path.resolve() / "campaigns" / "spec" / "plan"
    assert (plan / "recipients.parquet").is_file() and f"Plan written to {plan} " in result.stdout
    assert "Notification: sent at any hour, the marketing window does not apply (SEND-2); sends once approved" \
        in result.stdout
