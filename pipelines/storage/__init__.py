"""One storage layer for local paths and `s3://bucket/key` URLs (issue 13): what smsflow reads and writes, wherever
it is. Open for reading (streamed), read and write bytes (a write is whole or absent: local temp + rename, one
S3 PUT), exists, list under a prefix, move (S3: server-side copy + delete), and `local_copy` for the readers that
need a real file (a list's encoding is detected over the whole file before its rows are parsed).

S3 goes through obstore (bench/storage.py: against fsspec + s3fs on moto_server, a fraction of the client CPU).
The endpoint, credentials and region come from the usual AWS settings (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION or AWS_REGION, AWS_PROFILE's files are not read), never from a spec.
A missing object raises FileNotFoundError naming its URL, as a missing file does.

urls: ObjectUrl and locations; client: the obstore client from the AWS settings; files: the operations; mirror:
a bucket on S3 worked on through a local working copy, synced at task boundaries.
"""

from pipelines.storage.client import forget_clients
from pipelines.storage.files import (
    READ_BLOCK, Staged, delete, exists, fsync_folder, listing, local_copy, move, open_read, read_bytes, read_head,
    replace_durably, size, upload, write_bytes,
)
from pipelines.storage.mirror import (
    MirrorError, SyncCount, local_bucket, pull, pull_folder, push, push_folder, remote_of, root_of, synced,
    working_root,
)
from pipelines.storage.urls import SCHEME, Location, ObjectUrl, is_url, location

__all__ = [
    "READ_BLOCK", "SCHEME", "Location", "MirrorError", "ObjectUrl", "Staged", "SyncCount", "delete", "exists",
    "forget_clients", "fsync_folder", "is_url", "listing", "local_bucket", "local_copy", "location", "move",
    "open_read", "pull", "pull_folder", "push", "push_folder", "read_bytes", "read_head", "remote_of",
    "replace_durably", "root_of", "size", "synced",
    "upload", "working_root", "write_bytes",
]
