"""The campaign's steps as the DAG runs them: what comes from a form or the REST API stays inside the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_list, write_spec

from pipelines.campaign import plan_step, prepare_spec
from pipelines.spec import SpecError


def test_list4_form_lists_outside_the_bucket_are_refused_without_reading_them(bucket: Path, tmp_path: Path):
    secret = tmp_path / "secret.csv"
    secret.write_text("Mobile;Motdepasse\n0611111111;hunter2\n", encoding="utf-8")
    for location in (str(secret), "../secret.csv", f"file://{secret}"):
        conf = {"name": "Test", "type": "notification", "message": "Bonjour", "lists": [location]}
        with pytest.raises(SpecError) as error:
            prepare_spec(bucket, "c1", conf)
        assert "LIST-4" in str(error.value) and "hunter2" not in str(error.value)


def test_list4_a_spec_path_outside_the_bucket_is_refused(bucket: Path, tmp_path: Path):
    outside = write_spec(tmp_path / "elsewhere", lists=["a.csv"])
    write_list(outside.parent / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    with pytest.raises(SpecError, match="LIST-4|CAMP-2"):
        prepare_spec(bucket, "c1", {"spec_path": str(outside)})


def test_send1_a_form_send_at_in_the_past_is_refused_at_submission(bucket: Path):
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    conf = {"name": "Test", "type": "notification", "message": "Bonjour", "lists": ["a.csv"],
            "send_at": "2020-01-01T10:00:00+01:00"}
    with pytest.raises(SpecError, match="SEND-1"):
        prepare_spec(bucket, "c1", conf)


def test_send1_an_accepted_spec_is_planned_even_after_its_send_at_passed(bucket: Path):
    """The spec was accepted at submission; the plan task reads it later, maybe after its send time."""
    import yaml

    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec_path = prepare_spec(bucket, "c1", {"name": "Test", "type": "notification", "message": "Bonjour ${Prénom}",
                                            "lists": ["a.csv"]})
    data = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    data["send_at"] = "2020-01-01T10:00:00+01:00"  # time has passed since it was accepted
    spec_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    planned = plan_step(bucket, "c1", spec_path)
    assert (planned["rows"], planned["sendable"]) == (1, 1)


def test_send7_the_run_note_counts_parts_held_and_resent():
    from pipelines.campaign import run_note

    assert run_note("finished", parts=1200, delivered=1100) == "Sent: 1,200 parts accepted, 1,100 delivered"
    note = run_note("finished", parts=1200, delivered=1100, held=16, resent=3)
    assert "3 in flight when a sender stopped and sent again" in note and "16 held" in note
    assert "--release-held" in note


def test_send2_the_wait_and_the_approval_explain_the_send_window():
    """Issue 10: the wait task's log and the approval say what the campaign waits for, in Paris time."""
    from datetime import datetime

    from pipelines.run_page import PARIS, wait_text, window_words

    saturday_night = datetime(2026, 11, 28, 21, 0, tzinfo=PARIS)
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)
    assert wait_text(monday, "marketing", None, "seed", now=saturday_night) == (
        "Waiting for Monday 08:00 Paris (SEND-2): marketing messages are sent Mon–Sat 08:00–20:00 in each "
        "recipient's own time, never on public holidays.")
    later = datetime(2026, 11, 28, 21, 30, tzinfo=PARIS)
    assert wait_text(later, "notification", later, None, now=saturday_night) == \
        "Waiting for the send time the campaign asked, today 21:30 Paris (SEND-1)."
    assert window_words("charter-2026", monday.date()).startswith("Mon–Sat 08:00–21:30")


def test_send4_the_approval_text_has_the_send_window_in_one_line(tmp_path):
    from pipelines.campaign import approval_text
    from pipelines.layout import read_summary
    from pipelines.plan import plan_file

    (tmp_path / "a.csv").write_text("Mobile;Prénom\n0611111111;Ann\n", encoding="utf-8")
    for kind, message, expected in (
            ("marketing", "Soldes STOP 36184", "**Send time**: as soon as approved, within the send window: "
                                               "Mon–Sat 08:00–20:00 in each recipient's own time"),
            ("notification", "Colis", "**Send time**: as soon as approved, at any hour")):
        spec = write_spec(tmp_path / kind, name="S", type=kind, message=message, lists=["../a.csv"])
        text = approval_text(read_summary(plan_file(spec, tmp_path / kind / "plan").out_dir))
        (line,) = [line for line in text.split("\n\n") if line.startswith("**Send time**")]
        assert line.startswith(expected), line


def test_rep1_the_run_note_gives_the_figures_and_the_report():
    from pipelines.campaign import run_note

    figures = {"recipients": 6, "sent": 4, "delivered": 3, "failed": 1, "stops": 2, "credits": 4}
    assert run_note("finished", parts=4, delivered=3, figures=figures, report="campaigns/x/report/x.csv") == (
        "Sent: 4 parts accepted to 4 recipients, 3 delivered, 1 failed, 2 STOP replies, 4 credits used; "
        "report: campaigns/x/report/x.csv")


def test_url4_the_campaign_folders_spec_keeps_the_preview_image_of_the_spec_given(bucket: Path):
    """A spec in the bucket (specs/x.yaml, as `make demo` writes it) names its preview image relative to itself; the
    run's copy in the campaign folder must still find it (it was read relative to the copy: refused)."""
    from PIL import Image

    from pipelines.spec import load_spec

    write_list(bucket / "incoming" / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    spec = write_spec(bucket / "specs", lists=["../incoming/a.csv"], message="Voir https://www.ex.fr/a STOP 36184",
                      tracking={"preview": {"title": "Soldes", "description": "-20 %", "image": "soldes.jpg"}})
    Image.new("RGB", (600, 280), "orange").save(spec.with_name("soldes.jpg"), format="JPEG")
    copy = prepare_spec(bucket, "c1", {"spec_path": "specs/spec.yaml"})
    assert load_spec(copy, roots=[bucket]).tracking.preview.image == str(spec.with_name("soldes.jpg").resolve())
