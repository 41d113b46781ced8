"""The on-disk contract of a campaign: every file and folder it owns, named in one place.

```
<bucket>/campaigns/<campaign>/
  spec.yaml                 the run's spec, validated, lists made absolute
  plan/                     recipients.parquet, summary.json, quarantine.csv (the plan owns this folder)
  dispatch/ledger/*.jsonl   the send ledger: intents and the SMSC's answers
  dispatch/tests/           test sends (SEND-3), with a ledger of their own; their events in test-events/
  dispatch/sender*.lock     held by the one live sender of the campaign (binds/: its bind processes)
  events/*.parquet          delivery receipts and replies
  report/<campaign>.csv     the REP-2 report, and stats.json (REP-1)
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def campaign_folder_name(run_id: str) -> str:
    """A campaign id usable as a folder name inside `campaigns/` (an Airflow run id such as
    `manual__2026-…+00:00` cleaned up); never `.`, `..` or a path."""
    return _UNSAFE.sub("_", run_id).replace("..", "_").strip("._") or "campaign"


@dataclass(frozen=True)
class CampaignPaths:
    """Every path of one campaign, from its folder."""

    root: Path

    @classmethod
    def of_plan(cls, plan_dir: Path) -> CampaignPaths:
        """The campaign a plan folder belongs to (its parent)."""
        return cls(Path(plan_dir).parent)

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
        return self.root / "plan"

    @property
    def recipients(self) -> Path:
        return self.plan / "recipients.parquet"

    @property
    def summary(self) -> Path:
        return self.plan / "summary.json"

    @property
    def quarantine(self) -> Path:
        return self.plan / "quarantine.csv"

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
