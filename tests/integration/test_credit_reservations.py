"""SEND-8: reservations from processes at once never spend the same credit, on SQLite and PostgreSQL.

Real processes (multiprocessing spawn) against one store: integration, as spawning six interpreters takes longer
than `make test-unit` allows.
"""

from __future__ import annotations

import multiprocessing
import time

import pytest
from sqlalchemy import select

from pipelines.store import open_store
from pipelines.store.credits import balance, reserve, top_up
from pipelines.store.schema import credit_ledger


def _reserve_at(url: str, start: float, campaign: str, steps: list[int]) -> tuple[int, int]:
    engine = open_store(url)
    time.sleep(max(0.0, start - time.time()))
    held = reserve(engine, "default", campaign, steps[-1], steps=steps)
    return held.held, held.short


@pytest.mark.parametrize("processes", [6])
def test_send8_processes_reserving_at_once_never_overspend(store, store_url, processes):
    """Six processes reserve 4 credits each (messages of 2 parts) against 10: two get 4, one gets the 2 left
    (short 2: its last message gets status 8), three get nothing (short 4); never more than the balance."""
    top_up(store, "default", 10)
    start = time.time() + 3  # every process has opened the store by then, then all reserve in the same instant
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(_reserve_at, [(store_url, start, f"c{i}", [2, 4]) for i in range(processes)])
    assert sum(held for held, _ in results) == 10
    assert sorted(results) == [(0, 4), (0, 4), (0, 4), (2, 2), (4, 0), (4, 0)]
    assert balance(store) == 0
    with store.begin() as connection:
        rows = connection.execute(select(credit_ledger.c.campaign_id).where(credit_ledger.c.kind == "reserve")).all()
    assert len(rows) == processes  # one reservation each, short ones included (settled like the others)


@pytest.mark.parametrize("processes", [4])
def test_send5_one_campaign_reserved_by_processes_at_once_holds_once(store, store_url, processes):
    """A retried task racing its first attempt: the campaign holds its credits once."""
    top_up(store, "default", 100)
    start = time.time() + 3
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(_reserve_at, [(store_url, start, "same", [3, 6])] * processes)
    assert results == [(6, 0)] * processes
    assert balance(store) == 94
