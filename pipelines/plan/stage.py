"""The plan stage's entry points: a spec (or spec file) planned into a plan folder, atomically."""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pipelines.layout import LINKS_FILE, CampaignPaths, PlanSummary
from pipelines.links.plan import LINKS_DICTIONARY, LINKS_SCHEMA, LINKS_STATISTICS, LinkPlan
from pipelines.plan.batch import plan_batch, prepare_batch
from pipelines.plan.context import Context
from pipelines.plan.inputs import AccountInputs, merged_blacklists, number_keys
from pipelines.plan.io import (
    MARKER_FILE, OPTIONAL_FILES, PLAN_FILES, RECIPIENTS_FILE, BackgroundWriter, Progress, arrow_schema, install,
    load_blacklists, output_columns, pipelined, plan_folder, sources as list_sources, write_summary,
)
from pipelines.spec.inputs import check_inputs
from pipelines.plan.summary import summary as plan_summary
from pipelines.render import compile_template
from pipelines.spec import CampaignSpec, load_spec


@dataclass
class PlanResult:
    out_dir: Path
    recipients: Path
    summary_path: Path
    plan_summary: PlanSummary

    @property
    def summary(self) -> dict:
        """summary.json as a dict, as it is on disk (the CLI's --json, the tables)."""
        return self.plan_summary.model_dump(mode="json")


def plan_campaign(spec: CampaignSpec, base: Path, out_dir: Path, progress: Progress | None = None,
                  roots: Sequence[Path] | None = None, inputs: AccountInputs | None = None) -> PlanResult:
    """Plan `spec` (lists relative to `base`) into `out_dir`/recipients.parquet and summary.json, atomically.

    `out_dir` must be new, empty or a plan folder; only the plan's own files in it are replaced. With `roots`,
    a list or blacklist outside them is refused before it is opened (LIST-4, BL-1). `inputs` are what the account
    store holds (its blacklists, the numbers at its frequency cap); `spec.account` is then the account's settings
    as this campaign narrows them (`pipelines.account.prepare_account`).
    """
    target = plan_folder(out_dir)
    check_inputs(spec, base, roots)  # CAMP-2: every missing file and unknown field at once, before any row
    sources = list_sources(spec, base, roots)
    columns = output_columns(sources)
    fields = list(dict.fromkeys(f for source in sources for f in source.fields))
    links = LinkPlan.of(spec, fields, base, roots)  # URL-1: each URL measured as its short link (ENC-6)
    template = compile_template(links.message if links is not None else spec.message, fields)
    context = Context(spec, template, merged_blacklists(load_blacklists(spec, base, roots), inputs), links=links)
    if inputs is not None and inputs.capped is not None:
        context.capped = number_keys(inputs.capped)
    context.erased = inputs.erased if inputs is not None else None

    out_dir = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        schema = arrow_schema(columns)
        with contextlib.ExitStack() as writers:
            writer = writers.enter_context(BackgroundWriter(staging / RECIPIENTS_FILE, schema))
            if links is not None:  # URL-1: links.parquet streams beside recipients.parquet, batch by batch
                context.links_writer = writers.enter_context(BackgroundWriter(
                    staging / LINKS_FILE, LINKS_SCHEMA, LINKS_DICTIONARY, LINKS_STATISTICS))
                if links.image is not None:
                    shutil.copyfile(links.image.path, staging / links.image.file_name)
            for source in sources:
                done = 0
                for batch in pipelined(source.batches(), lambda frame: prepare_batch(frame, source, context)):
                    done += batch.source_bytes
                    planned = plan_batch(batch, source, context, columns)
                    writer.write(planned.to_arrow().cast(schema))
                    if progress is not None:
                        progress(source.name, min(done, source.size_bytes), source.size_bytes)
                if progress is not None:
                    progress(source.name, source.size_bytes, source.size_bytes)
        summary = plan_summary(context, sources, base)
        write_summary(staging, summary)
        written = [*PLAN_FILES, *(name for name in OPTIONAL_FILES if (staging / name).exists())]
        (staging / MARKER_FILE).write_text(json.dumps({"files": written}) + "\n", encoding="utf-8")
        install(staging, target, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    paths = CampaignPaths.of_plan(out_dir)
    return PlanResult(out_dir, paths.recipients, paths.summary, summary)


def plan_file(spec_path: Path, out_dir: Path, progress: Progress | None = None, *,
              roots: Sequence[Path] | None = None, check_send_at: bool = True,
              inputs: AccountInputs | None = None, spec: CampaignSpec | None = None) -> PlanResult:
    """Load a YAML spec (or take `spec`, loaded from it) and plan it; lists are relative to the spec's folder.

    A send time already past is refused (SEND-1) unless `check_send_at` is False (a spec accepted earlier).
    """
    if spec is None:
        now = datetime.now(timezone.utc) if check_send_at else None
        spec = load_spec(spec_path, now=now, roots=roots)
    from pipelines.storage import location

    return plan_campaign(spec, location(spec_path).resolve().parent, out_dir, progress, roots, inputs)
