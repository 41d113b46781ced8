"""PLUS-8 for tracked links: what the plans' links and the click batches hold about a recipient, erased.

A personalised target (`https://shop.fr/?id=${ID}`) and preview texts (`${Prénom}, vos soldes`) may carry personal
data the number's hash does not cover. Erasing a number therefore sets `target`, `title` and `description` to NULL
on that recipient's rows of each plan's links.parquet (NULL rather than a hash: nobody needs them any more, and the
links service drops a row without a valid target, so those links answer 404 from then on); the token, short link,
link number and expiry stay (nothing personal: the report still joins on them). The plan's marker is written again
(a new version: a running `smsflow links serve` re-reads the plan within its poll) and the campaign's index caches
(bucket/links/index, the targets and previews memory-mapped) are deleted, rebuilt from the erased file. The click
batches (`events/links/*.parquet`) keep that recipient's clicks with `ip_prefix` and `user_agent` NULL, and a
tombstone (pipelines.links.tombstones) does the same to the clicks still in the service's segments when they are
rolled. Retention (`purge`) does the same for every recipient of a campaign. Whole-column joins; each file replaced atomically.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import polars as pl

from pipelines.layout import PLAN_MARKER, CampaignPaths
from pipelines.links.clicks import events_folder
from pipelines.links.tombstones import CLICK_PERSONAL, erasing, remember
from pipelines.storage import replace_durably

LINK_PERSONAL = ("target", "title", "description")  # links.parquet's columns a plan personalises (URL-2, URL-4)
_KEYS = {"campaign_id": pl.String, "ref_list": pl.String, "id_line": pl.Int64}


def erased_recipients(bucket: Path, numbers: list[str], skip_campaigns=()) -> pl.DataFrame:
    """(campaign_id, ref_list, id_line) of the tracked plans' rows whose INT_MOBILE is one of `numbers` (the E.164
    number and its hash: an erasure run again finds the rows it hashed), campaigns in `skip_campaigns` left out."""
    campaigns = Path(bucket) / "campaigns"
    frames = []
    for folder in sorted(campaigns.iterdir()) if campaigns.is_dir() else ():
        paths = CampaignPaths(folder)
        if folder.name in set(skip_campaigns) or not paths.links.is_file() or not paths.recipients.is_file():
            continue
        plan = pl.read_parquet(paths.recipients, columns=["REF_LIST", "ID_LINE", "INT_MOBILE"])
        frames.append(plan.filter(pl.col("INT_MOBILE").is_in(numbers)).select(
            pl.lit(folder.name).alias("campaign_id"), pl.col("REF_LIST").alias("ref_list"),
            pl.col("ID_LINE").alias("id_line")).cast(_KEYS))
    return pl.concat(frames) if frames else pl.DataFrame(schema=_KEYS)


def erase_links(bucket: Path, recipients: pl.DataFrame) -> list[Path]:
    """The recipients' personalised link texts and their clicks' address and agent nulled in the bucket's files;
    the files rewritten."""
    bucket = Path(bucket)
    with erasing(bucket):  # no roll writes a batch between the tombstone and the pass over the batches
        remember(bucket, recipients)  # first: clicks still in the service's segments are scrubbed when rolled
        return _erase_links(bucket, recipients)


def _erase_links(bucket: Path, recipients: pl.DataFrame) -> list[Path]:
    written = []
    for (campaign,), rows in recipients.partition_by("campaign_id", as_dict=True).items():
        paths = CampaignPaths.in_bucket(bucket, campaign)
        if _null_rows(paths.links, rows.drop("campaign_id"), LINK_PERSONAL):
            written.append(paths.links)
            _new_plan_version(bucket, campaign, paths.plan)
    for path in sorted(events_folder(bucket).glob("*.parquet")) if not recipients.is_empty() else ():
        if _null_rows(path, recipients, CLICK_PERSONAL):
            written.append(path)
    return written


def purge_links(bucket: Path, campaign_id: str) -> list[Path]:
    """Retention: every recipient's link texts of the campaign and its clicks' address and agent nulled."""
    bucket, written = Path(bucket), []
    with erasing(bucket):
        remember(bucket, pl.DataFrame({"campaign_id": [campaign_id]}))
        paths = CampaignPaths.in_bucket(bucket, campaign_id)
        if paths.links.is_file() and _null_rows(paths.links, None, LINK_PERSONAL):
            written.append(paths.links)
            _new_plan_version(bucket, campaign_id, paths.plan)
        campaign = pl.DataFrame({"campaign_id": [campaign_id]})
        for path in sorted(events_folder(bucket).glob("*.parquet")):
            if _null_rows(path, campaign, CLICK_PERSONAL):
                written.append(path)
    return written


def _null_rows(path: Path, keys: pl.DataFrame | None, columns: tuple[str, ...]) -> bool:
    """`columns` set to NULL on the rows of the Parquet file `path` that match `keys` (all rows: None); whether any
    value changed (the file is then replaced)."""
    frame = pl.read_parquet(path)
    columns = tuple(name for name in columns if name in frame.columns)
    if not columns or frame.is_empty():
        return False
    if keys is None:
        hit = pl.lit(True)
    else:
        on = [name for name in keys.columns if name in frame.columns]
        flagged = keys.select(on).unique().cast({name: frame.schema[name] for name in on}) \
            .with_columns(pl.lit(True).alias("_erased"))
        frame = frame.join(flagged, on=on, how="left", maintain_order="left")
        hit = pl.col("_erased").fill_null(False)
    changes = frame.select((hit & pl.any_horizontal(pl.col(name).is_not_null() for name in columns)).any()).item()
    if changes:
        erased = frame.with_columns(pl.when(hit).then(None).otherwise(pl.col(name)).alias(name) for name in columns)
        _replace(path, erased.drop("_erased", strict=False))
    return bool(changes)


def _replace(path: Path, frame: pl.DataFrame) -> None:
    replace_durably(path, frame.write_parquet, keep_mode=True)


def _new_plan_version(bucket: Path, campaign: str, plan_dir: Path) -> None:
    """The plan's marker written again (same text, a new file: the links service sees a new version of the plan and
    loads it) and the campaign's index caches deleted (they hold the old targets and previews)."""
    marker = plan_dir / PLAN_MARKER
    if marker.is_file():
        staging = marker.with_name(f"{marker.name}.erase-{uuid.uuid4().hex[:8]}")
        staging.write_bytes(marker.read_bytes())
        os.replace(staging, marker)
    cache = bucket / "links" / "index"
    own = re.compile(re.escape(campaign) + r"-\d+-\d+\.arrow(\.rows\.npy|\.hash\.npy)?")
    for path in cache.iterdir() if cache.is_dir() else ():
        if own.fullmatch(path.name):
            path.unlink(missing_ok=True)
