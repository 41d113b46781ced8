"""The on-disk contract of a campaign: every file and folder it owns, named in one place.

```
<bucket>/campaigns/<campaign>/
  spec.yaml                 the run's spec, validated, lists made absolute
  plan/                     recipients.parquet, summary.json, .smsflow-plan, quarantine.csv (the plan's folder),
                            links.parquet and preview.jpg|png when the campaign tracks its links (URL-1…5)
  dispatch/ledger/*.jsonl   the send ledger: intents and the SMSC's answers (SMSFLOW_LEDGER=store: the account
                            store's send_ledger rows instead, shared by every worker)
  dispatch/tests/           test sends (SEND-3), with a ledger of their own
  test-events/              the test sends' receipts and replies, kept out of events/
  dispatch/sender*.lock     held by the one live sender of the campaign (binds/: its bind processes)
  events/*.parquet          delivery receipts and replies
  report/<campaign>.csv     the REP-2 report, and stats.json (REP-1)
```
A plan folder given by its path (`smsflow plan --out x`) keeps its name; its campaign is its parent.
`summary.json` is the `PlanSummary` model below: the plan writes it, `read_summary` reads it, one shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# recipients.parquet: the plan's own columns, then every original list column (LIST-3, PLUS-2).
PLAN_COLUMNS = {
    "REF_LIST": pl.String, "ID_LINE": pl.Int64, "MOBILE_RAW": pl.String, "INT_MOBILE": pl.String,
    "MF_VALID": pl.Boolean, "MF_ALLOW": pl.Boolean, "MF_COUNTRY": pl.String, "STATUS_CODE": pl.Int32,
    "STATUS_TEXT": pl.String, "MESSAGE": pl.String, "ENCODING": pl.String, "PARTS": pl.Int32,
}


def original_name(column: str) -> str:
    """A list column as the plan names it: a name taken by the plan's own columns gets a suffix."""
    return f"{column} (list)" if column in PLAN_COLUMNS else column

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
PLAN_FOLDER = "plan"
RECIPIENTS_FILE = "recipients.parquet"
SUMMARY_FILE = "summary.json"
QUARANTINE_FILE = "quarantine.csv"
LINKS_FILE = "links.parquet"  # URL-1…5: a tracked plan's short links, the links service's input
PREVIEW_FILES = ("preview.jpg", "preview.png")  # URL-4: the preview image, copied into the plan folder
SHARED_EVENTS = "events"  # bucket/events: where the long-lived `smsflow receive` writes late receipts and replies
PLAN_MARKER = ".smsflow-plan"  # marks a plan folder and lists what the plan wrote (PLUS-2)


def campaign_folder_name(run_id: str) -> str:
    """A campaign id usable as a folder name inside `campaigns/` (an Airflow run id such as
    `manual__2026-…+00:00` cleaned up); never `.`, `..` or a path."""
    return _UNSAFE.sub("_", run_id).replace("..", "_").strip("._") or "campaign"


def campaign_id_candidates(given: str) -> tuple[str, ...]:
    """The ids a campaign may go by, from what a person typed: the text itself, and the folder name of an Airflow
    run id (`manual__2026-11-25T10:00:00.123+00:00`, or as the Airflow UI's address writes it, `%3A`-escaped),
    which is the campaign id of a run started from the trigger form (CAMP-4)."""
    from urllib.parse import unquote

    candidates = dict.fromkeys((given, unquote(given), campaign_folder_name(given), campaign_folder_name(unquote(given))))
    return tuple(candidate for candidate in candidates if candidate)


@dataclass(frozen=True)
class CampaignPaths:
    """Every path of one campaign, from its folder."""

    root: Path
    plan_dir: Path | None = None  # a plan folder not named plan/ (`smsflow plan --out`); None: root / "plan"

    @classmethod
    def of_plan(cls, plan_dir: Path) -> CampaignPaths:
        """The campaign a plan folder belongs to (its parent); the plan's own files stay in that folder."""
        plan_dir = Path(plan_dir)
        return cls(plan_dir.parent, None if plan_dir.name == PLAN_FOLDER else plan_dir)

    @classmethod
    def in_bucket(cls, bucket: Path, campaign: str) -> CampaignPaths:
        return cls(Path(bucket) / "campaigns" / campaign)

    @property
    def campaign(self) -> str:
        return self.root.name

    @property
    def spec(self) -> Path:
        return self.root / "spec.yaml"

    @property
    def plan(self) -> Path:
        return self.plan_dir if self.plan_dir is not None else self.root / PLAN_FOLDER

    @property
    def recipients(self) -> Path:
        return self.plan / RECIPIENTS_FILE

    @property
    def summary(self) -> Path:
        return self.plan / SUMMARY_FILE

    @property
    def links(self) -> Path:
        return self.plan / LINKS_FILE

    @property
    def quarantine(self) -> Path:
        return self.plan / QUARANTINE_FILE

    @property
    def plan_marker(self) -> Path:
        return self.plan / PLAN_MARKER

    @property
    def dispatch(self) -> Path:
        return self.root / "dispatch"

    @property
    def ledger(self) -> Path:
        return self.dispatch / "ledger"

    @property
    def tests(self) -> Path:
        return self.dispatch / "tests"

    @property
    def sender_lock(self) -> Path:
        return self.dispatch / "sender.lock"

    def batch_lock(self, batch: int) -> Path:
        """The lock one batch's sender holds beside the shared sender.lock (PLUS-1)."""
        return self.dispatch / f"sender-batch-{batch}.lock"

    def batch_size_lock(self, batch_size: int) -> Path:
        """Shared by the senders of batches of `batch_size` rows: one batch size at a time (PLUS-1)."""
        return self.dispatch / f"sender-size-{batch_size}.lock"

    def batch_size_locks(self) -> dict[int, Path]:
        """Every batch size a sender of this campaign has used so far, and its lock."""
        found = self.dispatch.glob("sender-size-*.lock") if self.dispatch.is_dir() else []
        return {int(path.stem.rpartition("-")[2]): path for path in found if path.stem.rpartition("-")[2].isdigit()}

    @property
    def events(self) -> Path:
        return self.root / "events"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def report(self) -> Path:
        return self.report_dir / f"{self.campaign}.csv"

    @property
    def stats(self) -> Path:
        return self.report_dir / "stats.json"

    @property
    def test_events(self) -> Path:
        return self.root / "test-events"

    @property
    def binds(self) -> Path:
        """Lock files of the bind processes of the live sender (PLUS-1)."""
        return self.dispatch / "binds"

    def bind_lock(self, scope: str, pid: int | str) -> Path:
        """The lock of one bind process of a sender (`scope`: all or rows-START-STOP; `pid` may be a `{pid}`
        pattern)."""
        return self.binds / f"{scope}-{pid}.lock"


class SummaryError(ValueError):
    """A summary.json that is not a plan summary: names the file and every field at fault."""

    def __init__(self, path: Path, problems: list[str]):
        self.path, self.problems = path, problems
        super().__init__(f"{path}: not a plan summary [PLUS-2]: " + "; ".join(problems))


class _Section(BaseModel):
    """Strict (an unknown key is refused), immutable, and written under the JSON keys (`global`, `from`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)


class Blacklists(_Section):
    """BL-1, BL-2: the account's blacklists as the plan read them (absolute paths; None: the spec has none)."""

    own: str | None = None
    global_: str | None = Field(None, alias="global")
    client: str | None = None


class CampaignSection(_Section):
    name: str
    type: Literal["marketing", "notification"]
    billing_code: str | None
    description: str | None
    sender: str
    send_at: str | None  # ISO text as the spec gave it, so the file keeps its offset
    tracking: bool
    # Written by later versions of the plan; older plans on disk lack them.
    send_window: str | None = None
    in_flight: Literal["hold", "resend"] | None = None
    account: str | None = None
    blacklists: Blacklists = Blacklists()


class ListSection(_Section):
    name: str
    rows: int
    mobile_column: str
    encoding: str
    delimiter: str
    warnings: list[str] = []


class CountryCounts(_Section):
    detected: int
    accepted: int


class WorstCase(_Section):
    """ENC-6: the longest message; a Jinja template gives only its length, so the other keys are left out."""

    length: int
    encoding: str | None = Field(None, exclude_if=lambda value: value is None)
    parts: int | None = Field(None, exclude_if=lambda value: value is None)
    message: str | None = Field(None, exclude_if=lambda value: value is None)
    source: str = Field(alias="from")


class NumberParsing(_Section):
    fast_path: int
    full_parser: int
    full_parser_distinct: int


class TestSection(_Section):
    """SEND-3: the test numbers, the row that personalises the test, its message (None: no such row)."""

    __test__ = False  # not a pytest class
    numbers: list[str]
    row: int
    message: str | None


class PreviewSection(_Section):
    """URL-4: the preview as the spec writes it (personalised per link in links.parquet), its image's file name."""

    title: str
    description: str
    image: str | None = None


class TrackingSection(_Section):
    """URL-1…5: a tracked plan's short links (links.parquet)."""

    domain: str
    links_per_message: int
    urls: list[str]  # the target of each ${track_n}, as written (fields as ${Field})
    template: str  # the message with each URL as ${track_n}
    links: int  # rows of links.parquet: one per sendable recipient and link
    lifetime_days: int
    expires_at: str  # ISO, UTC
    preview: PreviewSection | None = None
    warnings: list[str] = []


class PlanSummary(_Section):
    """summary.json: the plan's figures (PLUS-2) that people, contracts, dispatch and the warehouse read."""

    campaign: CampaignSection
    columns: list[str]
    lists: list[ListSection]
    rows: int
    sendable: int
    invalid: int
    duplicates: int
    # PLUS-7 (plans written before it read 0): rows at the account's frequency cap (40), held out (41), of
    # `holdout_percent` % asked.
    capped: int = 0
    holdout: int = 0
    holdout_percent: float = 0
    status_counts: dict[str, int]
    status_texts: dict[str, str]
    credits: int
    credits_available: int | None = None
    countries: dict[str, CountryCounts]
    parts: dict[str, int]
    encodings: dict[str, int]
    empty_fields: dict[str, int]
    fields_used: list[str]
    defaults: dict[str, str]
    max_length: int
    worst_case: WorstCase
    longest_message: int
    max_parts: int
    numbers: NumberParsing
    test: TestSection | None = Field(None, exclude_if=lambda value: value is None)  # absent: no test numbers
    tracking: TrackingSection | None = Field(None, exclude_if=lambda value: value is None)  # absent: off

    def to_json(self) -> str:
        """The file's text, as the plan writes it."""
        return self.model_dump_json(indent=2)


def read_summary(plan_dir: Path) -> PlanSummary:
    """The summary.json of a plan folder, checked; SummaryError names the file and each missing or wrong field."""
    path = CampaignPaths.of_plan(plan_dir).summary
    try:
        return PlanSummary.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise SummaryError(path, [f"{'.'.join(str(part) for part in item['loc']) or '(file)'}: {item['msg']}"
                                  for item in error.errors()]) from None
