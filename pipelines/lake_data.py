"""Where a lake's data files live (REP-3, issue 13): a local folder, or an S3 prefix that DuckDB writes and reads
through its httpfs extension (loaded from the duckdb-extension-httpfs package, like the lake's other extensions).

The data is on S3 when SMSFLOW_WAREHOUSE_DATA names an `s3://` prefix, or when the catalog's folder is a local
working copy of an S3 bucket (`pipelines.storage.mirror.remote_of`): then `s3://bucket/prefix/warehouse/`. DuckDB's
S3 secret is made from the usual AWS settings, as the storage layer's client is (pipelines.storage.client).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pipelines.storage import Location, ObjectUrl, is_url, location
from pipelines.storage.mirror import remote_of

DATA_ENV = "SMSFLOW_WAREHOUSE_DATA"  # the lake's data folder or s3:// prefix (default: beside its catalog)
BUCKET_ENV = "SMSFLOW_BUCKET"
WAREHOUSE_FOLDER = "warehouse"  # a bucket's lake data, beside its catalog warehouse.sqlite


def data_location(default: Path, *, setting: str = "", from_bucket: bool = False) -> Location:
    """A lake's data: `setting` (SMSFLOW_WAREHOUSE_DATA) when given; else, with `from_bucket`, the warehouse/ of
    an S3 SMSFLOW_BUCKET; else `default` (the folder beside the catalog), or its S3 twin when its folder is a
    working copy of an S3 bucket."""
    if setting:
        where = location(setting)
        return ObjectUrl.parse(str(where).rstrip("/")) if is_url(where) else Path(where).resolve()
    bucket = os.environ.get(BUCKET_ENV, "")
    if from_bucket and is_url(bucket):
        return ObjectUrl.parse(bucket.rstrip("/")) / WAREHOUSE_FOLDER
    default = Path(default).resolve()
    remote = remote_of(default.parent)
    return remote / default.name if remote is not None else default


def data_path(data: Location) -> str:
    """The DuckLake DATA_PATH of a data location: a folder, with its trailing slash."""
    return str(data).rstrip("/") + "/"


def secret_parameters(data: ObjectUrl) -> dict[str, str | bool]:
    """The S3 secret of a lake's bucket from the AWS settings: a custom endpoint (moto, MinIO) addressed by path,
    over TLS or not as its URL says; the region; the keys and a session token when set."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    split = urlsplit(endpoint) if endpoint else None
    if split is not None and not split.netloc:
        raise ValueError(f"AWS_ENDPOINT_URL={endpoint!r}: a URL such as http://127.0.0.1:5000 is expected, for the "
                         f"lake's data at {data} [REP-3]")
    return {
        "scope": f"s3://{data.bucket}",
        "key_id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "session_token": os.environ.get("AWS_SESSION_TOKEN", ""),
        "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        "endpoint": (split.netloc + split.path.rstrip("/")) if split is not None else "s3.amazonaws.com",
        "url_style": "path" if split is not None else "vhost",
        "use_ssl": split is None or split.scheme == "https",
    }

