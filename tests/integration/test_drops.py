"""DROP-1..3 (issue 13): a CRM export dropped in the bucket is checked, then accepted (processed/, the run conf for
sms_campaign) or quarantined with its reason.json; the same bytes start one campaign; a crash loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import mobiles

from pipelines import storage
from pipelines.drops import marked_drops, process_drop, process_marked
from pipelines.storage import ObjectUrl
from pipelines.store import open_store
from pipelines.store.drops import add_rule, drop_by_hash

DAY = "2026-11-26"
TEMPLATE = {"name": "VIP", "type": "notification", "message": "Bonjour ${Prénom}", "sender": "MaBoutique"}


def export(count: int = 10, invalid: int = 0, header: str = "Portable;Prénom") -> bytes:
    rows = [f"{number};Ann" for number in mobiles(count - invalid)] + [f"01234;Bob{i}" for i in range(invalid)]
    return (header + "\n" + "\n".join(rows) + "\n").encode("utf-8")


def drop(where, data: bytes, marked: bool = True):
    storage.write_bytes(where, data)
    if marked:
        storage.write_bytes(where.parent / f"{where.name}.done", b"")
    return where


@pytest.fixture
def engine(_own_account_store):
    return open_store(_own_account_store)


@pytest.fixture
def vip(bucket: Path, engine):
    """A template spec in the bucket and the rule incoming/vip/ → it (approve)."""
    storage.write_bytes(bucket / "specs" / "vip.yaml", yaml.safe_dump(TEMPLATE, allow_unicode=True).encode())
    return add_rule(engine, "default", "incoming/vip/", spec="specs/vip.yaml")


def reason(bucket, outcome) -> dict:
    assert not outcome.accepted and outcome.target.startswith(f"quarantine/{DAY}/")
    assert storage.exists(bucket / outcome.target)
    return json.loads(storage.read_bytes(bucket / f"{outcome.target}.reason.json"))


def test_drop1_a_good_drop_is_accepted_with_the_run_conf_for_sms_campaign(bucket, engine, vip):
    from pipelines.campaign import prepare_spec
    from pipelines.spec import load_spec

    dropped = drop(bucket / "incoming" / "vip" / "export.csv", export())
    drop(bucket / "incoming" / "vip" / "half-written.csv", export(), marked=False)  # no marker: not yet
    assert marked_drops(bucket, engine) == [dropped]
    (outcome,) = process_marked(bucket, engine=engine)
    assert outcome.accepted and outcome.rows == 10 and outcome.rule_id == vip.id
    assert outcome.target == f"processed/{outcome.target.split('/')[1]}/export.csv"
    assert outcome.conf == {"spec_path": f"{outcome.target}.spec.yaml"}
    assert outcome.run_id.startswith("drop__")
    assert not dropped.exists() and not (dropped.parent / "export.csv.done").exists()
    assert (bucket / outcome.target).read_bytes() == export()
    # The conf is what sms_campaign's prepare task reads: the template, this file as its only list, approval manual.
    spec = load_spec(prepare_spec(bucket, "c1", outcome.conf), roots=[bucket])
    assert spec.lists == [str((bucket / outcome.target).resolve())]
    assert (spec.approval, spec.account.id, spec.message) == ("manual", "default", TEMPLATE["message"])
    assert spec.name == "VIP (export.csv)"
    assert marked_drops(bucket, engine) == []  # the unmarked file waits, untouched
    assert (bucket / "incoming" / "vip" / "half-written.csv").exists()


def test_drop1_auto_mode_sends_under_approval_auto_from_a_saved_draft(bucket, engine):
    from pipelines.spec import load_spec
    from pipelines.store import campaigns

    draft = campaigns.create(engine, {**TEMPLATE, "recipients": [{"mobile": "0612345678"}]})
    add_rule(engine, "default", "incoming/auto/", campaign=draft.id, mode="auto")
    outcome = process_drop(bucket, drop(bucket / "incoming" / "auto" / "x.csv", export()), engine=engine)
    assert outcome.accepted
    spec = load_spec(bucket / outcome.conf["spec_path"], roots=[bucket])
    assert spec.approval == "auto" and len(spec.lists) == 1
    assert campaigns.get(engine, draft.id).status == "draft"  # the template stays a draft for the next drop


@pytest.mark.parametrize(("where", "data", "check", "rule_id", "where_in_file", "column"), [
    ("incoming/other/x.csv", export(), "rule", None, None, None),
    ("incoming/vip/empty.csv", b"", "size", "DROP-1", None, None),
    ("incoming/vip/big.csv", export(5000), "size", "DROP-1", None, None),
    ("incoming/vip/nomobile.csv", b"Nom;Ville\nAnn;Paris\n", "mobile column", "LIST-2", {"line": 1}, None),
    ("incoming/vip/torn.csv", b"Portable;Note\n0612345678;ok\n0612345679;\"open\n0612345670;x;y\n",
     "readable", "LIST-1", {"line": 3}, "Note"),
    ("incoming/vip/export.xlsx", b"PK\x03\x04\x14\x00\x06\x00workbook", "readable", "LIST-1", {"line": 1}, None),
    ("incoming/vip/headeronly.csv", b"Portable;Nom\n", "rows", "DROP-1", None, None),
    ("incoming/vip/invalid.csv", export(10, invalid=3), "invalid share", "PLUS-3", {"row": 8}, "Portable"),
])
def test_drop1_a_bad_drop_is_quarantined_with_its_reason(bucket, engine, vip, where, data, check, rule_id,
                                                         where_in_file, column):
    from pipelines.store.drops import remove_rule

    remove_rule(engine, vip.id)  # the same rule with a 20,000-byte limit and a 20 % invalid share
    rule = add_rule(engine, "default", "incoming/vip/", spec="specs/vip.yaml", max_bytes=20_000,
                    max_invalid_share=0.2)
    dropped = drop(bucket / where, data)
    outcome = process_drop(bucket, dropped, engine=engine, today=DAY)
    said = reason(bucket, outcome)
    assert said["check"] == check, said
    assert said["file"] == str(dropped) and said["quarantined_as"] == outcome.target
    assert said["rule"] == (None if check == "rule" else rule.id)
    if rule_id:
        assert said["rule_id"] == rule_id
    for key, value in (where_in_file or {}).items():
        assert said[key] == value
    if column is not None:
        assert said["column"] == column
    assert not dropped.exists() and not (bucket / f"{where}.done").exists()
    assert storage.read_bytes(bucket / outcome.target) == data
    assert not (bucket / "processed").exists()


def test_drop1_a_template_that_makes_no_campaign_quarantines_the_drop(bucket, engine):
    storage.write_bytes(bucket / "specs" / "bad.yaml", b"name: x\ntype: marketing\nmessage: no stop mention\n")
    add_rule(engine, "default", "incoming/bad/", spec="specs/bad.yaml")
    add_rule(engine, "default", "incoming/missing/", spec="specs/missing.yaml")
    bad = process_drop(bucket, drop(bucket / "incoming" / "bad" / "a.csv", export()), engine=engine, today=DAY)
    assert reason(bucket, bad)["check"] == "template" and "MSG-2" in reason(bucket, bad)["reason"]
    missing = process_drop(bucket, drop(bucket / "incoming" / "missing" / "a.csv", export()), engine=engine,
                           today=DAY)
    assert reason(bucket, missing)["check"] == "template"
    # the bytes were never recorded: dropped again once the template is right, they start a campaign
    storage.write_bytes(bucket / "specs" / "missing.yaml", yaml.safe_dump(TEMPLATE).encode())
    assert process_drop(bucket, drop(bucket / "incoming" / "missing" / "b.csv", export()), engine=engine).accepted


def test_drop2_the_same_bytes_dropped_twice_under_any_name_start_one_campaign(bucket, engine, vip):
    first = process_drop(bucket, drop(bucket / "incoming" / "vip" / "monday.csv", export()), engine=engine)
    copy = process_drop(bucket, drop(bucket / "incoming" / "vip" / "copy.csv", export()), engine=engine, today=DAY)
    again = process_drop(bucket, drop(bucket / "incoming" / "vip" / "monday.csv", export()), engine=engine,
                         today=DAY)  # the same name and bytes, after the first was processed
    assert first.accepted
    for duplicate in (copy, again):
        said = reason(bucket, duplicate)
        assert said["check"] == "duplicate" and said["details"]["run_id"] == first.run_id
    assert copy.target != again.target  # two files quarantined under one day: neither overwrites the other
    other = process_drop(bucket, drop(bucket / "incoming" / "vip" / "monday.csv", export(11)), engine=engine)
    assert other.accepted and other.run_id != first.run_id and other.target != first.target  # new bytes, same name


def test_drop3_a_crash_before_the_move_loses_nothing_and_the_retry_finishes_it(bucket, engine, vip):
    dropped = drop(bucket / "incoming" / "vip" / "export.csv", export())
    (bucket / "processed").write_bytes(b"")  # processed/ cannot be made: the drop fails after it is recorded
    with pytest.raises(OSError):
        process_drop(bucket, dropped, engine=engine, today=DAY)
    assert dropped.exists() and (dropped.parent / "export.csv.done").exists()  # where it was, still marked
    recorded = drop_by_hash(engine, __import__("hashlib").sha256(export()).hexdigest())
    assert recorded is not None
    (bucket / "processed").unlink()
    retried = process_drop(bucket, dropped, engine=engine, today=DAY)
    assert retried.accepted and (retried.run_id, retried.target) == (recorded.run_id, recorded.target)
    assert not dropped.exists() and (bucket / retried.target).read_bytes() == export()
    # the task stopped after the move: run again, it says the same, and nothing is quarantined
    assert process_drop(bucket, dropped, engine=engine, today=DAY) == retried.__class__(
        retried.source, True, retried.target, retried.rule_id, retried.run_id, retried.conf)
    assert not (bucket / "quarantine").exists()


def test_drop3_a_marker_left_without_its_file_is_removed(bucket, engine, vip):
    marker = bucket / "incoming" / "vip" / "gone.csv.done"
    storage.write_bytes(marker, b"")
    assert marked_drops(bucket, engine) == [] and not marker.exists()


def test_drop1_a_drop_on_s3(s3_server, engine):
    bucket = ObjectUrl.parse(s3_server.url("root/"))
    storage.write_bytes(bucket / "specs" / "vip.yaml", yaml.safe_dump(TEMPLATE, allow_unicode=True).encode())
    add_rule(engine, "default", "incoming/vip/", spec="specs/vip.yaml", mode="auto")
    good = drop(bucket / "incoming" / "vip" / "export.csv", export())
    bad = drop(bucket / "incoming" / "vip" / "bad.csv", export(10, invalid=5))
    assert marked_drops(bucket, engine) == [bad, good]
    refused, accepted = process_marked(bucket, engine=engine)
    assert accepted.accepted and storage.read_bytes(bucket / accepted.target) == export()
    spec = yaml.safe_load(storage.read_bytes(bucket / accepted.conf["spec_path"]))
    assert spec["lists"] == ["export.csv"] and spec["approval"] == "auto"  # beside the spec, in processed/
    said = json.loads(storage.read_bytes(bucket / f"{refused.target}.reason.json"))
    assert said["check"] == "invalid share" and said["file"] == str(bad) and said["row"] == 6
    assert storage.listing(bucket / "incoming") == []  # every drop and marker gone from incoming/


def test_drop1_start_drops_takes_the_named_files_then_the_marked_ones(bucket, engine, vip):
    from pipelines.drops import start_drops

    named = drop(bucket / "incoming" / "vip" / "export.csv", export(), marked=False)  # the watcher took its marker
    swept = drop(bucket / "incoming" / "vip" / "other.csv", export(12))
    stray = drop(bucket / "incoming" / "nobody.csv", export(13))  # under incoming/, no rule's prefix
    started = start_drops(str(bucket), [f"file://{named}", "incoming/vip/export.csv"])  # named twice: once
    assert [run["conf"]["spec_path"].rsplit("/", 1)[1] for run in started["accepted"]] == [
        "export.csv.spec.yaml", "other.csv.spec.yaml"]
    assert all(run["trigger_run_id"].startswith("drop__") for run in started["accepted"])
    (refused,) = started["quarantined"]
    assert (refused["source"], refused["check"]) == ("incoming/nobody.csv", "rule")
    assert not any(path.exists() for path in (named, swept, stray))


def test_drop1_a_link_dropped_in_the_bucket_is_quarantined_unread(tmp_path, bucket, engine, vip):
    secret = tmp_path / "outside.csv"
    secret.write_text("Nom;SECRET-HEADER\n", encoding="utf-8")
    link = bucket / "incoming" / "vip" / "link.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    (bucket / "incoming" / "vip" / "link.csv.done").write_bytes(b"")
    (outcome,) = process_marked(bucket, engine=engine)
    said = json.loads(storage.read_bytes(bucket / f"{outcome.target}.reason.json"))
    assert said["check"] == "readable" and said["rule_id"] == "LIST-4"
    assert "SECRET" not in json.dumps(said) and secret.read_text(encoding="utf-8").startswith("Nom;SECRET")
    assert outcome.target.startswith("quarantine/") and (bucket / outcome.target).is_symlink()
    assert not link.exists()


def test_drop3_a_crash_between_the_copy_and_the_delete_of_an_s3_move_is_finished_not_called_a_duplicate(
        s3_server, engine):
    import hashlib

    from pipelines.store.drops import record_drop

    bucket = ObjectUrl.parse(s3_server.url("root/"))
    storage.write_bytes(bucket / "specs" / "vip.yaml", yaml.safe_dump(TEMPLATE, allow_unicode=True).encode())
    rule = add_rule(engine, "default", "incoming/vip/", spec="specs/vip.yaml")
    dropped = drop(bucket / "incoming" / "vip" / "export.csv", export())
    # As a first attempt leaves it when it stops after S3's copy: recorded, copied, the source not yet deleted.
    target = f"processed/{DAY}/export.csv"
    digest = hashlib.sha256(export()).hexdigest()
    first, _ = record_drop(engine, digest, rule, "incoming/vip/export.csv", target, "drop__first",
                           {"spec_path": f"{target}.spec.yaml"})
    storage.write_bytes(bucket / target, export())
    retried = process_drop(bucket, dropped, engine=engine, today=DAY)
    assert retried.accepted and (retried.run_id, retried.target) == ("drop__first", target)
    assert not storage.exists(dropped) and storage.exists(bucket / f"{target}.spec.yaml")
    assert storage.listing(bucket / "quarantine") == []


def test_drop3_a_stop_after_the_move_and_before_the_spec_is_finished_by_the_retry(bucket, engine, vip):
    dropped = drop(bucket / "incoming" / "vip" / "export.csv", export())
    done = process_drop(bucket, dropped, engine=engine, today=DAY)
    spec = bucket / done.conf["spec_path"]
    written = spec.read_bytes()
    spec.unlink()  # as if the task had stopped between the move and the spec
    again = process_drop(bucket, dropped, engine=engine, today=DAY)
    assert again.accepted and again.run_id == done.run_id and spec.read_bytes() == written


def test_drop1_smsflow_drops_check_says_what_a_drop_would_do_and_touches_nothing(bucket, engine, vip,
                                                                                 _own_account_store):
    from helpers import smsflow_here

    good = drop(bucket / "incoming" / "vip" / "good.csv", export(), marked=False)
    bad = drop(bucket / "incoming" / "vip" / "bad.csv", export(10, invalid=4), marked=False)
    env = {"SMSFLOW_DB": _own_account_store, "SMSFLOW_BUCKET": str(bucket)}
    said = smsflow_here("drops", "check", str(good), env=env)
    assert said.returncode == 0 and "Would be accepted by drop rule" in said.stderr and "10 rows" in said.stderr
    refused = smsflow_here("drops", "check", str(bad), "--json", env=env)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["reason"]["check"] == "invalid share"
    told = smsflow_here("drops", "check", str(bad), env=env)
    assert "Would be quarantined: invalid share" in told.stderr and "row 7, column Portable" in told.stderr
    assert good.exists() and bad.exists() and not (bucket / "processed").exists()
    assert not (bucket / "quarantine").exists()
    assert process_drop(bucket, good, engine=engine).accepted  # nothing was recorded: not a duplicate


def test_drop3_a_name_outside_the_bucket_is_left_where_it_is_and_the_other_drops_still_end(tmp_path, bucket, engine,
                                                                                           vip):
    """A run's conf naming ../outside (anyone who can trigger sms_drops) moves nothing into the bucket, and a
    rule whose draft was deleted quarantines its drop instead of stopping the sweep (DROP-3)."""
    from pipelines.drops import start_drops
    from pipelines.store import campaigns

    outside = tmp_path / "outside" / "secret.csv"
    outside.parent.mkdir()
    outside.write_bytes(export())
    draft = campaigns.create(engine, {**TEMPLATE, "recipients": [{"mobile": "0612345678"}]})
    add_rule(engine, "default", "incoming/aaa/", campaign=draft.id)
    campaigns.delete(engine, draft.id)
    orphan = drop(bucket / "incoming" / "aaa" / "x.csv", export(4))
    good = drop(bucket / "incoming" / "vip" / "export.csv", export())
    started = start_drops(bucket, ["incoming/../../outside/secret.csv", str(outside)])
    assert outside.read_bytes() == export()  # left where it is: neither moved nor quarantined
    assert len(started["accepted"]) == 1 and not good.exists()
    (refused,) = started["quarantined"]
    assert (refused["source"], refused["check"]) == ("incoming/aaa/x.csv", "template") and not orphan.exists()
