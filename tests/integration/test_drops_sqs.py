"""DROP-1..3 on S3 (issue 13), against a real moto_server (S3 and SQS in one process): the bucket's notifications
of new objects under the drop prefixes reach the SQS queue `watch_drops` made, and name the dropped object; the
sweep `sms_drops` runs on each message takes every drop waiting (no marker on S3): accepted to processed/<date>/
with one campaign run, refused to quarantine/<date>/ with its reason.json, the same bytes twice one campaign, a
lost or repeated message neither loses nor doubles a drop."""

from __future__ import annotations

import json

import boto3
import pytest
import yaml
from helpers import mobiles

from pipelines import storage
from pipelines.drops import announced_objects, start_drops, watch_drops
from pipelines.drops.notifications import CONFIGURATION_ID, notified_prefixes
from pipelines.storage import ObjectUrl
from pipelines.store import open_store
from pipelines.store.drops import add_rule

TEMPLATE = {"name": "VIP", "type": "notification", "message": "Bonjour ${Prénom}", "sender": "MaBoutique"}


def export(count: int = 10, invalid: int = 0) -> bytes:
    rows = [f"{number};Ann" for number in mobiles(count - invalid)] + [f"01234;Bob{i}" for i in range(invalid)]
    return ("Portable;Prénom\n" + "\n".join(rows) + "\n").encode("utf-8")


@pytest.fixture
def engine(_own_account_store):
    return open_store(_own_account_store)


@pytest.fixture
def bucket(s3_server, engine) -> ObjectUrl:
    """s3://<bucket>/root/ with a template and the rule incoming/vip/ → it."""
    root = ObjectUrl.parse(s3_server.url("root/"))
    storage.write_bytes(root / "specs" / "vip.yaml", yaml.safe_dump(TEMPLATE, allow_unicode=True).encode())
    add_rule(engine, "default", "incoming/vip/", spec="specs/vip.yaml")
    return root


def received(queue_url: str) -> list[dict]:
    """Every message waiting in the queue (read and deleted, as the SQS trigger does)."""
    sqs, messages = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", []):
        messages += batch
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": message["MessageId"], "ReceiptHandle": message["ReceiptHandle"]} for message in batch])
    return messages


def ends(bucket: ObjectUrl) -> dict[str, list[str]]:
    """The files of processed/ and quarantine/, relative to the bucket, without smsflow's own."""
    return {folder: [str(where).removeprefix(f"{bucket}") for where in storage.listing(bucket / folder)
                     if not str(where).endswith((".spec.yaml", ".reason.json"))]
            for folder in ("processed", "quarantine")}


def test_drop1_a_new_object_under_a_drop_prefix_is_announced_to_the_queue_with_its_key(bucket, engine):
    add_rule(engine, "default", "crm/acme/", spec="specs/vip.yaml")  # outside incoming/: a notification of its own
    queue_url = watch_drops(bucket, engine=engine)
    assert notified_prefixes(bucket) == ["root/crm/acme/", "root/incoming/"]  # incoming/ covers incoming/vip/
    received(queue_url)  # S3's test event, sent when the notifications are set
    storage.write_bytes(bucket / "incoming" / "vip" / "export 1.csv", export())
    storage.write_bytes(bucket / "crm" / "acme" / "x.csv", export())
    storage.write_bytes(bucket / "specs" / "other.yaml", b"name: x\n")  # not under a drop prefix: not announced
    messages = received(queue_url)
    assert announced_objects([{"payload": {"status": "success", "message_batch": messages}}]) == [
        f"{bucket}incoming/vip/export 1.csv", f"{bucket}crm/acme/x.csv"]  # S3 sends keys URL-encoded


def test_drop1_watching_is_idempotent_and_keeps_the_buckets_other_notifications(bucket, engine):
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    audit = sqs.create_queue(QueueName="crm-audit")["QueueUrl"]
    audit_arn = sqs.get_queue_attributes(QueueUrl=audit, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    theirs = {"Id": "crm-audit", "QueueArn": audit_arn, "Events": ["s3:ObjectRemoved:*"],
              "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "audit/"}]}}}
    s3.put_bucket_notification_configuration(Bucket=bucket.bucket,
                                             NotificationConfiguration={"QueueConfigurations": [theirs]})
    first = watch_drops(bucket, "smsflow-drops-test", engine=engine)
    again = watch_drops(bucket, "smsflow-drops-test", engine=engine)
    assert first == again and first.endswith("/smsflow-drops-test")
    configured = s3.get_bucket_notification_configuration(Bucket=bucket.bucket)["QueueConfigurations"]
    assert [item["Id"] for item in configured if item["Id"] == "crm-audit"] == ["crm-audit"]
    ours = [item for item in configured if item["Id"].startswith(CONFIGURATION_ID)]
    assert len(ours) == 1 and ours[0]["Events"] == ["s3:ObjectCreated:*"]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=first, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{bucket.bucket}"


def test_drop1_watching_a_folder_is_refused(tmp_path, engine):
    with pytest.raises(ValueError, match="DROP-1"):
        watch_drops(tmp_path, engine=engine)


def test_drop1_to_3_the_sweep_on_s3_ends_every_drop_once_and_starts_one_campaign_per_content(bucket, engine):
    queue_url = watch_drops(bucket, engine=engine)
    received(queue_url)
    good = bucket / "incoming" / "vip" / "export.csv"
    storage.write_bytes(good, export())  # no marker: an S3 object is whole once listed
    storage.write_bytes(bucket / "incoming" / "vip" / "resent.csv", export())  # the same bytes, another name
    storage.write_bytes(bucket / "incoming" / "vip" / "bad.csv", export(10, invalid=5))
    storage.write_bytes(bucket / "incoming" / "vip" / "marked.csv", export(12))  # a CRM that writes markers still
    storage.write_bytes(bucket / "incoming" / "vip" / "marked.csv.done", b"")
    announced = announced_objects([{"payload": {"message_batch": received(queue_url)}}])
    assert f"{good}" in announced and len(announced) == 5

    started = start_drops(bucket)  # the sweep a message wakes: what check_drops runs
    assert len(started["accepted"]) == 2  # export.csv and marked.csv (listed in key order): one run per content
    assert all(run["trigger_run_id"].startswith("drop__") for run in started["accepted"])
    refused = {item["source"].rsplit("/", 1)[1]: item["check"] for item in started["quarantined"]}
    assert refused == {"bad.csv": "invalid share", "resent.csv": "duplicate"}
    assert storage.listing(bucket / "incoming") == []  # every drop and marker gone from where it was dropped
    day = started["accepted"][0]["conf"]["spec_path"].split("/")[1]
    assert sorted(ends(bucket)["processed"]) == [f"processed/{day}/export.csv", f"processed/{day}/marked.csv"]
    assert sorted(ends(bucket)["quarantine"]) == [f"quarantine/{day}/bad.csv", f"quarantine/{day}/resent.csv"]
    said = json.loads(storage.read_bytes(bucket / f"quarantine/{day}/bad.csv.reason.json"))
    assert (said["check"], said["rule_id"]) == ("invalid share", "PLUS-3")
    assert said["file"] == f"{bucket}incoming/vip/bad.csv"
    for run in started["accepted"]:
        spec = yaml.safe_load(storage.read_bytes(bucket / run["conf"]["spec_path"]))
        assert spec["lists"] == [run["conf"]["spec_path"].rsplit("/", 1)[1].removesuffix(".spec.yaml")]

    # A repeated message wakes a sweep that finds nothing; the same bytes dropped again start nothing (DROP-2).
    assert start_drops(bucket) == {"accepted": [], "quarantined": []}
    storage.write_bytes(bucket / "incoming" / "vip" / "tuesday.csv", export())
    again = start_drops(bucket)
    assert again["accepted"] == [] and [item["check"] for item in again["quarantined"]] == ["duplicate"]


def test_drop3_a_lost_message_loses_no_drop_the_next_sweep_takes_it(bucket, engine):
    queue_url = watch_drops(bucket, engine=engine)
    storage.write_bytes(bucket / "incoming" / "vip" / "monday.csv", export())
    received(queue_url)  # its message read and lost: no run for it
    storage.write_bytes(bucket / "incoming" / "vip" / "tuesday.csv", export(11))
    (message,) = [item for item in received(queue_url) if "Records" in item["Body"]]
    assert announced_objects([{"payload": {"message_batch": [message]}}]) == [f"{bucket}incoming/vip/tuesday.csv"]
    started = start_drops(bucket)  # tuesday's sweep takes monday's drop too
    assert sorted(run["conf"]["spec_path"].rsplit("/", 1)[1] for run in started["accepted"]) == [
        "monday.csv.spec.yaml", "tuesday.csv.spec.yaml"]


def test_drop1_smsflow_drops_watch_s3_prints_the_queue_url_for_smsflow_drop_queue(bucket, _own_account_store):
    from helpers import smsflow_here

    env = {"SMSFLOW_DB": _own_account_store, "SMSFLOW_BUCKET": str(bucket)}
    said = smsflow_here("drops", "watch-s3", "--queue", "drops-cli", env=env)
    assert said.returncode == 0, said.stderr
    queue_url = said.stdout.strip()
    assert queue_url.endswith("/drops-cli") and f"SMSFLOW_DROP_QUEUE={queue_url}" in said.stderr
    assert "root/incoming/" in said.stderr and notified_prefixes(bucket) == ["root/incoming/"]
    assert smsflow_here("drops", "watch-s3", "--queue", "drops-cli", env=env).stdout.strip() == queue_url
    refused = smsflow_here("drops", "watch-s3", "--bucket", "bucket", env=env)
    assert refused.returncode == 2 and "s3:// bucket" in refused.stderr


def test_drop1_adding_or_removing_a_rule_on_an_announced_s3_bucket_updates_its_notifications(bucket, engine,
                                                                                             _own_account_store):
    from helpers import smsflow_here

    queue_url = watch_drops(bucket, engine=engine)
    env = {"SMSFLOW_DB": _own_account_store, "SMSFLOW_BUCKET": str(bucket), "SMSFLOW_DROP_QUEUE": queue_url}
    added = smsflow_here("drops", "add", "crm/acme/", "--spec", "specs/vip.yaml", env=env)
    assert added.returncode == 0, added.stderr
    assert notified_prefixes(bucket) == ["root/crm/acme/", "root/incoming/"]
    assert smsflow_here("drops", "remove", "crm/acme/", env=env).returncode == 0
    assert notified_prefixes(bucket) == ["root/incoming/"]
    unreachable = smsflow_here("drops", "add", "crm/other/", "--spec", "specs/vip.yaml",
                               env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"})
    assert unreachable.returncode == 0 and "run smsflow drops watch-s3" in unreachable.stderr  # the rule is added
