"""The S3 client (obstore) of a bucket, from the usual AWS settings; its errors as the OSErrors a file raises."""

from __future__ import annotations

import os
import threading

from pipelines.storage.urls import ObjectUrl

_SETTINGS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_MAX_ATTEMPTS")
_stores: dict[tuple, object] = {}
_stores_lock = threading.Lock()


def _store(bucket: str):
    """The obstore client of a bucket, made once per bucket and AWS settings (thread-safe, shared)."""
    from obstore.store import S3Store

    settings = tuple(os.environ.get(name) for name in _SETTINGS)
    with _stores_lock:
        store = _stores.get((bucket, settings))
        if store is None:
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            config: dict[str, object] = {}
            if endpoint:
                config["endpoint"] = endpoint
                # a custom endpoint (MinIO, moto, Ceph) is addressed by path: bucket names need no DNS there
                config["virtual_hosted_style_request"] = False
            if region:
                config["region"] = region
            options: dict[str, object] = {}
            attempts = os.environ.get("AWS_MAX_ATTEMPTS")  # the AWS setting: 1 = no retry
            if attempts and attempts.isdigit() and int(attempts) >= 1:
                options["retry_config"] = {"max_retries": int(attempts) - 1}
            store = S3Store(bucket, config=config, **options,
                            client_options={"allow_http": bool(endpoint and endpoint.startswith("http://"))})
            _stores[(bucket, settings)] = store
    return store


def forget_clients() -> None:
    """Drop the clients made so far (the AWS settings changed: a test's server, a new role)."""
    with _stores_lock:
        _stores.clear()


def _missing(url: ObjectUrl, error: BaseException) -> FileNotFoundError:
    missing = FileNotFoundError(2, "no such object", str(url))
    missing.__cause__ = error
    return missing


def _call(url: ObjectUrl, function, *args, **options):
    """An obstore call on `url`'s bucket; its NotFoundError as FileNotFoundError, its other errors as OSError."""
    from obstore.exceptions import BaseError, NotFoundError

    try:
        return function(_store(url.bucket), *args, **options)
    except (NotFoundError, FileNotFoundError) as error:  # obstore raises either, by operation
        raise _missing(url, error) from None
    except (BaseError, OSError) as error:
        raise OSError(f"{url}: {type(error).__name__}: {_first_line(error)}") from error


def list_objects(url: ObjectUrl, prefix: str | None) -> list[dict]:
    """Every object's metadata under `prefix` in `url`'s bucket, read whole inside `_call`: obstore's listing is a
    lazy stream whose requests (and errors: S3 down, bad keys) happen while it is read, so it is read here."""
    import obstore

    def read(store, *args, **options):
        return [meta for batch in obstore.list(store, *args, **options) for meta in batch]

    return _call(url, read, prefix, chunk_size=1000)


def _first_line(error: BaseException) -> str:
    """obstore's message without its debug dump (the request, the XML answer): its first line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
