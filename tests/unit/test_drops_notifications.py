"""DROP-1 on S3 (issue 13): the pure parts of the SQS announcements: the fewest notification prefixes that cover
the drop prefixes, and the objects an S3 event in an SQS message names."""

from __future__ import annotations

import json

from pipelines.drops.notifications import announced_objects, watched_prefixes


def message(*records: dict) -> dict:
    return {"MessageId": "m", "ReceiptHandle": "r", "Body": json.dumps({"Records": list(records)})}


def created(key: str, bucket: str = "crm", event: str = "ObjectCreated:Put") -> dict:
    return {"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}


def test_drop1_notification_prefixes_never_overlap():
    assert watched_prefixes(["root/incoming/vip/", "root/incoming/", "root/crm/acme/", "root/crm/acme/b/"]) == [
        "root/crm/acme/", "root/incoming/"]
    assert watched_prefixes(["in/", "inbox/"]) == ["in/", "inbox/"]  # a folder boundary, not a string prefix


def test_drop1_announced_objects_come_from_the_s3_events_of_the_messages():
    batch = [message(created("incoming/vip/export+1%C3%A9.csv")),  # S3 encodes keys as a form does
             {"Body": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "crm"})},
             {"Body": "not json"}, message(created("incoming/vip/gone.csv", event="ObjectRemoved:Delete")),
             message(created("incoming/vip/export+1%C3%A9.csv", event="ObjectCreated:Copy"))]  # said twice: once
    as_trigger = {"status": "success", "message_batch": batch}  # the SQS trigger's payload
    as_asset_event = {"from_trigger": True, "payload": as_trigger}  # an Asset event's extra
    for events in ([as_trigger], [as_asset_event]):
        assert announced_objects(events) == ["s3://crm/incoming/vip/export 1é.csv"]
    assert announced_objects([{}, {"payload": None}]) == []
