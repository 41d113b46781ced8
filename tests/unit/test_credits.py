"""SEND-5: reserving, releasing, and the balance as a ledger."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.credits import available, release, reserve, top_up


def test_send5_reserve_release_and_finish(tmp_path):
    database = tmp_path / "w.duckdb"
    assert top_up(database, "acme", 1000) == 1000
    assert reserve(database, "acme", "c1", 300) == 300
    assert reserve(database, "acme", "c1", 300) == 300  # idempotent: held once
    assert available(database, "acme") == 700
    with pytest.raises(ValueError, match="700 credits available"):
        reserve(database, "acme", "c2", 800)
    assert available(database, "acme") == 700  # a refused reservation holds nothing
    assert release(database, "acme", "c1", keep=280, reason="finished") == 20  # unused credits come back
    assert release(database, "acme", "c1", keep=280) == 0
    assert reserve(database, "acme", "c3", 200) == 200
    assert release(database, "acme", "c3") == 200  # cancelled: everything comes back
    assert available(database, "acme") == 720
    with duckdb.connect(str(database), read_only=True) as connection:
        kinds = connection.execute("SELECT kind, credits FROM credit_ledger ORDER BY entry_id").fetchall()
        balance = connection.execute("SELECT available FROM credit_balances WHERE account_id = 'acme'").fetchone()
    assert kinds == [("topup", 1000), ("reserve", 300), ("release", 20), ("reserve", 200), ("release", 200)]
    assert balance == (720,)
