"""A campaign's bucket when it may be on S3 (issue 13): the folders a spec may read, a campaign folder synced with
S3 around a step, and the locations a prepared spec writes so that any worker can read them.

A bucket on S3 is worked on through a local working copy (pipelines.storage.mirror): a step pulls its campaign
folder, works on the files, and pushes them back. A spec in the campaign folder names its lists as s3:// objects,
never as a worker's local paths. A local bucket: the folder itself, nothing synced, paths as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipelines.layout import CampaignPaths
from pipelines.storage import Location, ObjectUrl, is_url, remote_of, synced


def roots(bucket: Path) -> list[Path | ObjectUrl]:
    """The folders a campaign's spec may read (LIST-4, BL-1): the bucket, and the S3 prefix its working copy
    mirrors."""
    remote = remote_of(bucket)
    return [Path(bucket)] + ([remote] if remote is not None else [])


def source(bucket: Path, given: str | Path) -> Location:
    """A location the trigger form names relative to the bucket (`specs/x.yaml`): in S3 when the bucket is, read
    there (a spec's own relative lists then name objects beside it); a local path otherwise."""
    if is_url(given):
        return ObjectUrl.parse(str(given))
    path = Path(given)
    remote = remote_of(bucket)
    if path.is_absolute() or remote is None:
        return path if path.is_absolute() else Path(bucket) / path
    return remote.joinpath(path.as_posix())


def base(bucket: Path) -> Location:
    """What the trigger form's relative locations are relative to: the bucket (its S3 prefix when on S3)."""
    return remote_of(bucket) or Path(bucket)


def portable(location: Location) -> str:
    """A location as a prepared spec writes it: a file of a working copy as the s3:// object it mirrors (another
    worker has no such file), anything else as it is."""
    if isinstance(location, Path):
        remote = remote_of(location)
        if remote is not None:
            return str(remote)
    return str(location)


def prefix(campaign_id: str) -> str:
    """A campaign folder's key prefix in its bucket."""
    return f"campaigns/{campaign_id}"


@contextlib.contextmanager
def campaign_synced(bucket: Path, campaign_id: str, *, also: Iterable[str] = ()) -> Iterator[CampaignPaths]:
    """A campaign's folder for one step: pulled from S3 first, pushed back after (also when the step fails: a
    ledger or a report reaches S3 even then); a local bucket's folder as it is."""
    with synced(Path(bucket), prefix(campaign_id), also=also):
        yield CampaignPaths.in_bucket(Path(bucket), campaign_id)


def sent_parts(bucket: Path, campaign_id: str) -> int:
    """SEND-8: the parts a campaign's send ledger shows sent, its ledger pulled from S3 first when the bucket is
    there (another worker sent them; a store ledger, SMSFLOW_LEDGER=store, is read from the store)."""
    from pipelines.settlement import campaign_sent_parts
    from pipelines.storage import pull

    if remote_of(bucket) is not None:
        pull(Path(bucket), f"{prefix(campaign_id)}/dispatch/ledger")
    return campaign_sent_parts(Path(bucket), campaign_id)


@contextlib.contextmanager
def purge_synced(bucket: Path) -> Iterator[Path]:
    """What a PLUS-8 purge rewrites, pulled from S3 before and pushed back after: the campaign folders and the
    links service's files (its tombstones and click batches); a local bucket as it is."""
    with synced(Path(bucket), "campaigns"), synced(Path(bucket), "links"), synced(Path(bucket), "events/links"):
        yield Path(bucket)


@contextlib.contextmanager
def local_file(location: Location | str) -> Iterator[Path]:
    """A real file for a reader that needs one: an s3:// object copied into a temporary folder for the block."""
    from pipelines.storage import Staged

    if not is_url(location):
        yield Path(location)
        return
    with Staged(location) as staged:
        yield staged.path
