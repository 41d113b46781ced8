"""Send-ledger benchmark (PLUS-1, SEND-7, issue 13): dispatch throughput with the ledger in files against the ledger
in the account store, on PostgreSQL (as in the stack) and on SQLite, against the simulator process.

    .venv/bin/python bench/ledger_store.py --messages 50000 [--binds 1] [--pg postgresql://postgres@127.0.0.1:5432]

Each run is a fresh campaign (1 part per message) sent unthrottled over `--binds` binds to a fresh simulator, with
receipts on; the store runs use a database made for the bench (dropped at the end). Prints parts/s, the ratio to the
file ledger, and the store's cost per `sent` mark alone (one committed insert per part, measured apart). Never
asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _database(pg: str) -> tuple[str, str]:
    import psycopg

    name = f"smsflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return name, f"{pg.replace('postgresql://', 'postgresql+psycopg://')}/{name}"


def _drop(pg: str, name: str) -> None:
    import psycopg

    from pipelines.store import dispose_all

    dispose_all()
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mark_cost(url: str, marks: int = 5000) -> float:
    """Microseconds per `sent` mark on the store at `url` (StoreLedger.sent alone, one commit each)."""
    from pipelines.dispatch.ledger_store import StoreLedger
    from pipelines.store import open_store

    ledger = StoreLedger(open_store(url), "bench-marks", "bench", group=64)
    started = time.perf_counter()
    for index in range(marks):
        ledger.sent(f"+3361{index:07d}\x1f{index:016x}\x1f0\x1f1")
    seconds = time.perf_counter() - started
    ledger.close()
    return seconds / marks * 1e6


def main() -> None:
    from dispatch import run

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ledger_store")
    args = parser.parse_args()
    name, pg_url = _database(args.pg)
    shutil.rmtree(args.out / "store", ignore_errors=True)  # a fresh SQLite store: its ledger is the campaign's
    sqlite_url = f"sqlite:///{(args.out / 'store' / 'smsflow.db').resolve()}"
    rows = []
    try:
        for label, mode, url in (("files", "files", sqlite_url), ("store, PostgreSQL", "store", pg_url),
                                 ("store, SQLite", "store", sqlite_url)):
            os.environ.update({"SMSFLOW_LEDGER": mode, "SMSFLOW_DB": url})
            rows.append((label, run(args.out / mode / label.split()[-1].lower(), args.messages, args.binds, None,
                                    None)))
        costs = {"PostgreSQL": mark_cost(pg_url), "SQLite": mark_cost(sqlite_url)}
    finally:
        _drop(args.pg, name)
    print(f"\ndispatch of {args.messages:,} parts over {args.binds} bind(s) to the simulator (window 128, receipts on), "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'ledger':20} {'parts':>8} {'seconds':>8} {'parts/s':>9} {'vs files':>9} {'lost':>5} {'dup':>4}")
    base = rows[0][1]["rate"]
    for label, row in rows:
        print(f"{label:20} {row['parts']:>8,} {row['seconds']:>8.2f} {row['rate']:>9,.0f} {row['rate'] / base:>8.0%} "
              f"{row['lost']:>5} {row['duplicated']:>4}")
    for store, cost in costs.items():
        print(f"a `sent` mark in the store on {store}: {cost:,.0f} µs (one committed insert)")


if __name__ == "__main__":
    main()
