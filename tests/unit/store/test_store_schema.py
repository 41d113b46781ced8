"""The account store opens on SQLite and PostgreSQL with the same migrations (issue 9 §1, ACC-1)."""

from __future__ import annotations

import multiprocessing

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from pipelines.store import open_store
from pipelines.store.schema import metadata


def test_acc1_migrations_build_exactly_the_schema_the_code_uses(store_url):
    engine = open_store(store_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert differences == []
    assert set(metadata.tables) <= set(inspect(engine).get_table_names())


def test_acc1_sqlite_store_runs_in_wal_mode(tmp_path):
    engine = open_store(f"sqlite:///{tmp_path / 'smsflow.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def _open(url: str) -> str:
    from pipelines.store import get_account

    return get_account(open_store(url)).id


@pytest.mark.integration  # real processes at once: not the fast unit part
@pytest.mark.parametrize("processes", [4])
def test_acc1_processes_opening_a_new_store_at_once_migrate_it_once(store_url, processes):
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        assert pool.map(_open, [store_url] * processes) == ["default"] * processes


def test_issue13_the_default_store_of_an_s3_bucket_is_in_this_hosts_working_copy(tmp_path, monkeypatch):
    """With SMSFLOW_BUCKET=s3://… and no SMSFLOW_DB, the SQLite store is the working copy's file (one host), never a
    local folder named `s3:`."""
    from pipelines.store.engine import store_url

    monkeypatch.delenv("SMSFLOW_DB", raising=False)
    monkeypatch.setenv("SMSFLOW_WORKDIR", str(tmp_path / "copy"))
    monkeypatch.setenv("SMSFLOW_BUCKET", "s3://crm/prod")
    assert store_url() == f"sqlite:///{(tmp_path / 'copy' / 'smsflow.db').resolve()}"
    assert store_url(bucket=tmp_path / "local") == f"sqlite:///{(tmp_path / 'local' / 'smsflow.db').resolve()}"
