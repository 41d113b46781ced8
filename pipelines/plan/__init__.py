"""The plan stage: campaign spec + contact lists → one planned row per input row, and a summary.

Lists stream through in batches (the 10M-row case never holds the whole list): each batch is normalised
(NUM-1/2), deduplicated against every number seen before it (NUM-3), checked against the blacklists (BL-1),
rendered (MSG-3/4/5), encoded and measured (ENC-1…5) and billed (ENC-6, SEND-5), then appended to
`recipients.parquet`. Nothing is dropped: a row that cannot be sent keeps its pre-send status.
The output folder appears whole or not at all.

rules: the pure column rules; batch: one batch planned; summary: summary.json and the send window in words; io:
streaming, the writer and the plan folder (every problem of the files and fields a spec names: pipelines.spec.inputs)
(CAMP-2); stage: plan_campaign and plan_file.
"""

from pipelines.plan.io import (
    BATCH_ROWS, DERIVED_FILES, MARKER_FILE, OWNED_FILES, PLAN_FILES, RECIPIENTS_FILE, SUMMARY_FILE,
    PlanFolderError, Progress, Source,
)
from pipelines.plan.inputs import AccountInputs
from pipelines.spec.inputs import check_inputs, input_problems
from pipelines.layout import PLAN_COLUMNS
from pipelines.plan.rules import BLACKLIST_STATUSES
from pipelines.plan.stage import PlanResult, plan_campaign, plan_file

__all__ = [
    "BATCH_ROWS", "BLACKLIST_STATUSES", "AccountInputs", "DERIVED_FILES", "MARKER_FILE", "OWNED_FILES", "PLAN_COLUMNS", "PLAN_FILES",
    "RECIPIENTS_FILE", "SUMMARY_FILE", "PlanFolderError", "PlanResult", "Progress", "Source", "check_inputs",
    "input_problems", "plan_campaign", "plan_file",
]
