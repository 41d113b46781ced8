"""Drops on S3 announced through SQS (DROP-1, issue 13): the bucket's event notifications (`s3:ObjectCreated:*` on
the drop prefixes) sent to an SQS queue, which the sms_drops DAG's AssetWatcher reads (common-messaging's
MessageQueueTrigger, the Amazon provider's SQS trigger under it).

`watch_drops` makes the queue and the notifications (idempotent: `smsflow drops add|remove` run it again when
SMSFLOW_DROP_QUEUE is set, so a rule outside `incoming/` is announced too); `announced_objects` reads the objects an Asset event's SQS messages name. A message only wakes the
sweep (`start_drops`), which takes every drop waiting: a lost message is caught by the next sweep, a repeated one
finds its drop gone or a duplicate (DROP-2). boto3 reads the endpoint, region and keys from the AWS_* settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from urllib.parse import unquote_plus

from pipelines.storage import Location, ObjectUrl
from pipelines.storage import location as as_location

DEFAULT_QUEUE = "smsflow-drops"
CONFIGURATION_ID = "smsflow-drops"  # the Id prefix of the notifications this module owns (others are kept)
EVENTS = ["s3:ObjectCreated:*"]  # a PUT, a copy, a completed multipart upload: an object is whole once listed


def watched_prefixes(prefixes: Iterable[str]) -> list[str]:
    """The fewest key prefixes that cover these (S3 refuses two notifications whose prefixes overlap for the same
    events): `incoming/` covers `incoming/vip/`."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):  # a prefix sorts before every key it covers
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return kept


def drop_prefixes(bucket: ObjectUrl, engine=None) -> list[str]:
    """The bucket's keys under which drops are swept (`incoming/` and every rule's prefix), as full key prefixes."""
    from pipelines.drops.process import INBOX
    from pipelines.store import open_store
    from pipelines.store.drops import list_rules

    engine = engine or open_store()
    root = bucket.key.rstrip("/")
    relative = {INBOX, *(rule.prefix for rule in list_rules(engine))}
    return watched_prefixes(f"{root}/{prefix}" if root else prefix for prefix in relative)


def _clients():
    try:
        import boto3
    except ImportError:  # pragma: no cover - comes with the Airflow group (Amazon provider) and moto
        raise RuntimeError("boto3 is not installed: S3 notifications are made with it (the Amazon provider of the "
                           "airflow dependency group brings it) [DROP-1]") from None
    return boto3.client("s3"), boto3.client("sqs")


def watch_drops(bucket: Location | str, queue: str = DEFAULT_QUEUE, *, engine=None) -> str:
    """The SQS queue `queue` (made if missing, S3 allowed to send to it) and the bucket's notifications of new
    objects under the drop prefixes to it; the bucket's other notifications are kept. Returns the queue's URL
    (SMSFLOW_DROP_QUEUE). Idempotent."""
    bucket = as_location(bucket)
    if not isinstance(bucket, ObjectUrl):
        raise ValueError(f"{bucket} is a folder, not an s3:// bucket: a local bucket's drops are announced by their "
                         f".done marker, not SQS [DROP-1]")
    s3, sqs = _clients()
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "smsflow-drops-from-s3", "Effect": "Allow",
                       "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
                       "Resource": queue_arn,
                       "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket.bucket}"}}}]})})
    current = s3.get_bucket_notification_configuration(Bucket=bucket.bucket)
    current.pop("ResponseMetadata", None)
    others = [item for item in current.get("QueueConfigurations", [])
              if not str(item.get("Id", "")).startswith(CONFIGURATION_ID)]
    ours = [{"Id": f"{CONFIGURATION_ID}-{hashlib.sha1(prefix.encode()).hexdigest()[:12]}", "QueueArn": queue_arn,
             "Events": EVENTS, "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}}}
            for prefix in drop_prefixes(bucket, engine)]
    s3.put_bucket_notification_configuration(
        Bucket=bucket.bucket, NotificationConfiguration={**current, "QueueConfigurations": others + ours})
    return queue_url


def notified_prefixes(bucket: Location | str) -> list[str]:
    """The key prefixes whose new objects the bucket announces to smsflow's queue (what `watch_drops` set)."""
    bucket = as_location(bucket)
    s3, _ = _clients()
    current = s3.get_bucket_notification_configuration(Bucket=bucket.bucket)
    return sorted(rule["Value"] for item in current.get("QueueConfigurations", [])
                  if str(item.get("Id", "")).startswith(CONFIGURATION_ID)
                  for rule in item.get("Filter", {}).get("Key", {}).get("FilterRules", []) if rule["Name"] == "prefix")


def announced_objects(events: Iterable[dict]) -> list[str]:
    """The s3:// objects that S3 event notifications name, in the SQS messages of trigger events (the trigger's
    payload `{"message_batch": [...]}`, or an Asset event's extra `{"payload": {...}}`); S3's test event and
    bodies that are not S3 events are skipped. Keys come URL-encoded in the events."""
    found: list[str] = []
    for event in events:
        payload = event.get("payload", event) if isinstance(event, dict) else {}
        for message in (payload or {}).get("message_batch") or []:
            try:
                body = json.loads(message.get("Body") or "")
            except (TypeError, ValueError):
                continue
            for record in (body.get("Records") or []) if isinstance(body, dict) else []:
                s3 = record.get("s3") or {}
                name, key = (s3.get("bucket") or {}).get("name"), (s3.get("object") or {}).get("key")
                if name and key and str(record.get("eventName", "")).startswith("ObjectCreated"):
                    found.append(f"s3://{name}/{unquote_plus(key)}")
    return list(dict.fromkeys(found))
