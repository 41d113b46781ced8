"""Issue 9 §1: in Airflow the account store is a connection (`smsflow_db`), unless $SMSFLOW_DB names one."""

from __future__ import annotations

from pipelines.store import create_account, get_account, open_store


def test_acc1_a_task_opens_the_store_the_airflow_connection_names(store_url, monkeypatch):
    from smsflow_provider.hooks.store import use_airflow_store

    create_account(open_store(store_url), "acme")
    airflow_uri = store_url.replace("postgresql+psycopg://", "postgres://")  # as Airflow writes a postgres one
    monkeypatch.delenv("SMSFLOW_DB")
    monkeypatch.setenv("AIRFLOW_CONN_SMSFLOW_DB", airflow_uri)
    url = use_airflow_store()
    assert get_account(open_store(), "acme").id == "acme"  # the same store, through the connection
    assert url is not None


def test_acc1_smsflow_db_wins_over_the_airflow_connection(store_url, monkeypatch):
    from smsflow_provider.hooks.store import use_airflow_store

    monkeypatch.setenv("AIRFLOW_CONN_SMSFLOW_DB", "postgres://nobody@127.0.0.1:1/none")
    assert use_airflow_store() == store_url


def test_acc1_without_a_connection_the_bucket_store_is_used(monkeypatch):
    from smsflow_provider.hooks.store import use_airflow_store

    monkeypatch.delenv("SMSFLOW_DB")
    monkeypatch.delenv("AIRFLOW_CONN_SMSFLOW_DB", raising=False)
    assert use_airflow_store() is None
