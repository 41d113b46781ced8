"""DROP-1..3 (issue 13): a CRM export dropped in the bucket starts one campaign, or is quarantined with its reason.

A CRM writes `incoming/vip/export.csv`, then the empty marker `incoming/vip/export.csv.done` (the file is whole
once its marker is there); on S3 the object alone (whole once listed), announced by the bucket's notifications to
SQS (notifications). `process_drop` then, for that file (a local path or an s3:// object):
1. finds its rule (`pipelines.store.drops`: the longest prefix it starts with) and the rule's template;
2. checks it before anything else: its size (at most the rule's max_bytes, never empty), then the list reader
   itself (`pipelines.lists`: a known encoding, a header with a mobile column, rows a contact list can hold,
   each refusal with its line and column), then a Great Expectations contract on what its rows measure (at
   least one row, at most MAX_ROWS; the share of invalid numbers, by `pipelines.numbers`, under the rule's limit
   or else the template's `contracts.max_invalid_share`);
3. dedupes by content: the SHA-256 of its bytes is recorded once (unique in the store), so the same bytes
   dropped again under any name are quarantined as a duplicate and start nothing;
4. ends it in exactly one place: accepted, it moves to `processed/<date>/<name>`, then `<name>.spec.yaml` is
   written beside it: the template's spec with this file as its only list (and `approval: auto` in `auto`
   mode); the run conf for `sms_campaign` is `{"spec_path": that spec}`, its run id `drop__<hash>`. Refused, it
   moves to `quarantine/<date>/<name>` beside `<name>.reason.json` (the rule, the check that failed, the file,
   the file's line and column when the reader knows them, or the first bad row, LIST-6's numbering, and the
   mobile column). Its marker is removed after.

Crash-safe: the drop is recorded before the file moves, and its spec is written after (the sign it is done); a
retry of the same drop finds its own record (same bytes, same source, no spec yet) and finishes the move and the
spec, or, the file gone already, writes the spec if missing and returns what was recorded. Only the same bytes
from another file, or dropped again once done, are duplicates.

checks: the checks before anything else; template: the drop's spec from its rule's template; process: one drop to
processed/ or quarantine/, `check_drop` (the same checks, nothing moved: `smsflow drops check`), the marked drops
waiting, and `start_drops` (what the sms_drops DAG runs); notifications: the SQS queue and the bucket's
notifications (`watch_drops`), and the objects an SQS message names.
"""

from pipelines.drops.checks import BINARY_EXPORTS, MAX_BYTES, MAX_ROWS, DropRefused, check_contract, check_size, \
    measure_numbers
from pipelines.drops.process import INBOX, MARKER, PROCESSED, QUARANTINE, RUN_PREFIX, DropOutcome, check_drop, \
    content_hash, marked_drops, process_drop, process_marked, start_drops
from pipelines.drops.notifications import DEFAULT_QUEUE, announced_objects, watch_drops
from pipelines.drops.template import drop_spec, template_spec

__all__ = [
    "BINARY_EXPORTS", "DEFAULT_QUEUE", "INBOX", "MARKER", "MAX_BYTES", "MAX_ROWS", "PROCESSED", "QUARANTINE",
    "RUN_PREFIX", "DropOutcome", "DropRefused", "announced_objects", "check_contract", "check_drop", "check_size",
    "content_hash", "drop_spec", "marked_drops", "measure_numbers", "process_drop", "process_marked", "start_drops",
    "template_spec", "watch_drops",
]
