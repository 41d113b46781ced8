"""PLUS-1, SEND-7 (issue 13): the send ledger in the account store, on SQLite and PostgreSQL, reads as the file
ledger does: the same records give the same `ledger_state`; marks are committed as they are written; an intent of a
writer that opened before the store's server restarted counts as on the wire."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select, update

from pipelines.dispatch import ledger_state
from pipelines.dispatch.ledger_files import Ledger
from pipelines.dispatch.ledger_store import StoreLedger, store_sent_parts
from pipelines.smpp import pdu as P
from pipelines.store import open_store
from pipelines.store.schema import send_ledger


def _key(index: int, part: int = 1) -> str:
    return f"+3361000{index:04d}\x1f{index:016x}\x1f0\x1f{part}"


def _write_a_campaign(open_writer) -> None:
    """Two runs of two binds: accepted, refused, throttled then accepted, in flight, announced only, held, resent."""
    first = open_writer("batch-0-bind-0")
    first.intents([_key(i) for i in range(8)])
    for index in range(6):
        first.sent(_key(index))
    first.outcome(_key(0), P.ESME_ROK, "a0")
    first.outcome(_key(1), 0x45, None)  # submit failed: refused
    first.outcome(_key(2), 0x58, None)  # throttled
    first.flush()
    first.intents([_key(2)])
    first.sent(_key(2))
    first.outcome(_key(2), P.ESME_ROK, "a2")
    first.close()  # 3, 4, 5 in flight; 6, 7 announced only
    second = open_writer("batch-0-bind-0")
    second.outcome(_key(3), P.ESME_ROK, "r3", evidence="receipt")
    second.decide([_key(4)], "held", "in flight when the sender stopped")
    second.decide([_key(5)], "resend", "in flight when the sender stopped")
    second.intents([_key(5), _key(6)])
    second.sent(_key(5))
    second.sent(_key(6))
    second.outcome(_key(5), P.ESME_ROK, "a5")
    second.outcome(_key(6), P.ESME_ROK, "a6")
    second.close()


def _comparable(state: pl.DataFrame) -> pl.DataFrame:
    return state.drop("ts").sort("key")


def test_plus1_send7_the_store_ledger_reads_as_the_file_ledger(store_url, tmp_path, monkeypatch):
    files = tmp_path / "bucket" / "campaigns" / "c-files" / "dispatch" / "ledger"
    monkeypatch.setenv("SMSFLOW_LEDGER", "files")
    _write_a_campaign(lambda name: Ledger(files, name, group=2))
    from_files = ledger_state(files)
    stored = tmp_path / "bucket" / "campaigns" / "c-store" / "dispatch" / "ledger"
    monkeypatch.setenv("SMSFLOW_LEDGER", "store")
    engine = open_store(store_url)
    _write_a_campaign(lambda name: StoreLedger(engine, "c-store", name, group=2))
    from_store = ledger_state(stored)
    assert not stored.exists()  # nothing on the worker's disk
    assert dict(zip(*_comparable(from_store).select("key", "outcome"))) == {
        _key(0): "accepted", _key(1): "refused", _key(2): "accepted", _key(3): "accepted", _key(4): "held",
        _key(5): "accepted", _key(6): "accepted", _key(7): "unsent"}
    assert _comparable(from_store).equals(_comparable(from_files))
    assert from_store.filter(pl.col("resent")).get_column("key").to_list() == [_key(5)]


def test_send7_marks_are_committed_as_written_and_seen_by_another_worker(store_url, tmp_path, monkeypatch):
    """Nothing waits for close: a `sent` mark is in the store before the submit would be written, and outcomes
    once flushed (each bind flushes once per network read), as another worker's engine reads them."""
    monkeypatch.setenv("SMSFLOW_LEDGER", "store")
    ledger_dir = tmp_path / "worker-2" / "campaigns" / "c1" / "dispatch" / "ledger"
    writer = StoreLedger(open_store(store_url), "c1", "batch-3-bind-0", group=1000)
    try:
        writer.intents([_key(1), _key(2)])
        writer.sent(_key(1))
        assert dict(zip(*ledger_state(ledger_dir).select("key", "outcome"))) == {_key(1): "none", _key(2): "unsent"}
        writer.outcome(_key(1), P.ESME_ROK, "m1")
        writer.flush()
        assert ledger_state(ledger_dir).filter(pl.col("key") == _key(1)).get_column("message_id").to_list() == ["m1"]
    finally:
        writer.close()


def test_send7_intents_of_a_writer_opened_before_the_server_restarted_count_as_on_the_wire(store_url, tmp_path,
                                                                                        monkeypatch):
    """An intent with no `sent` mark never left, unless the server restarted since its writer opened: its marks
    were committed without waiting for the disk and may be lost (simulated: the stored start time differs)."""
    monkeypatch.setenv("SMSFLOW_LEDGER", "store")
    engine = open_store(store_url)
    ledger_dir = tmp_path / "bucket" / "campaigns" / "c1" / "dispatch" / "ledger"
    before = StoreLedger(engine, "c1", "batch-0-bind-0", group=8)
    before.intents([_key(1)])
    before.close()
    after = StoreLedger(engine, "c1", "batch-1-bind-0", group=8)
    after.intents([_key(2)])
    after.close()
    assert dict(zip(*ledger_state(ledger_dir).select("key", "outcome"))) == {_key(1): "unsent", _key(2): "unsent"}
    with engine.begin() as connection:
        connection.execute(update(send_ledger).where(send_ledger.c.writer == before.writer,
                                                     send_ledger.c.event == "open")
                           .values(boot="2026-01-01 00:00:00+00"))
    assert dict(zip(*ledger_state(ledger_dir).select("key", "outcome"))) == {_key(1): "none", _key(2): "unsent"}


def test_plus4_the_receivers_index_reads_only_new_rows_of_every_campaign(store_url):
    engine = open_store(store_url)
    for campaign in ("c1", "c2", "c1/tests"):
        writer = StoreLedger(engine, campaign, "batch-all-bind-0", group=8)
        writer.intents([_key(1)])
        writer.sent(_key(1))
        writer.outcome(_key(1), P.ESME_ROK, f"id-{campaign}")
        writer.close()
    parts = store_sent_parts(engine, 0)
    assert parts.get_column("campaign").to_list() == ["c1", "c2"]  # not the test sends' (SEND-3)
    assert store_sent_parts(engine, parts.get_column("id").max()).is_empty()


@pytest.mark.parametrize("value", ["Store", "files"])
def test_plus1_the_ledger_setting_is_read_in_any_case(value, monkeypatch):
    from pipelines.dispatch import ledger_mode

    monkeypatch.setenv("SMSFLOW_LEDGER", value)
    assert ledger_mode() == value.lower()


def test_plus1_the_ledger_defaults_to_the_store_when_the_bucket_is_on_s3(monkeypatch):
    from pipelines.dispatch import ledger_mode

    monkeypatch.delenv("SMSFLOW_LEDGER", raising=False)
    monkeypatch.setenv("SMSFLOW_BUCKET", "s3://smsflow/prod")
    assert ledger_mode() == "store"
    monkeypatch.setenv("SMSFLOW_BUCKET", str(Path("bucket").resolve()))
    assert ledger_mode() == "files"
    monkeypatch.setenv("SMSFLOW_LEDGER", "postgres")
    with pytest.raises(ValueError, match=r"SMSFLOW_LEDGER='postgres'.*\[PLUS-1\]"):
        ledger_mode()


def test_plus4_the_receivers_index_sees_parts_any_worker_sent_and_rows_committed_late(store_url, tmp_path,
                                                                                      monkeypatch):
    """events.LedgerIndex (the receiver's campaign lookup) reads the store's rows incrementally; a row whose id was
    taken before one already read but committed after it is still read (PostgreSQL: two transactions at once)."""
    from pipelines.events import LedgerIndex, campaigns_of_events

    monkeypatch.setenv("SMSFLOW_LEDGER", "store")
    engine = open_store(store_url)
    index = LedgerIndex(tmp_path / "bucket")
    assert index.parts().is_empty()
    writer = StoreLedger(engine, "c1", "batch-0-bind-0", group=8)
    writer.outcome(_key(1), P.ESME_ROK, "1f")
    writer.close()
    parts = index.parts()
    assert parts.select("campaign", "number", "message_id").rows() == [("c1", _key(1).split("\x1f")[0], "1f")]
    receipts = pl.DataFrame({"kind": ["receipt"], "message_id": ["31"], "handset": [None], "received_at": [None]},
                            schema={"kind": pl.String, "message_id": pl.String, "handset": pl.String,
                                    "received_at": pl.Datetime("us", "UTC")})
    assert campaigns_of_events(receipts, parts) == ["c1"]  # 31 is 0x1f: the campaign of the hex id (PLUS-4)
    if engine.dialect.name != "postgresql":
        return
    slow = engine.connect()
    slow.begin()
    slow.execute(send_ledger.insert(), {"campaign": "c2", "writer": "w-slow", "key": _key(2), "event": "accepted",
                                        "status": 0, "message_id": "slow", "ts": 1.0})
    fast = StoreLedger(engine, "c3", "batch-0-bind-0", group=8)
    fast.outcome(_key(3), P.ESME_ROK, "fast")
    fast.close()
    assert set(index.parts().get_column("message_id")) == {"1f", "fast"}
    slow.commit()
    slow.close()
    assert sorted(index.parts().get_column("message_id")) == ["1f", "fast", "slow"]
    assert index.parts().height == 3  # each row once


def test_plus8_erase_and_purge_reach_the_ledger_in_the_store(store_url):
    """An erased number (for its account only, too) and a purged campaign's numbers are hashed in the store's
    ledger as in its files: the part keys keep their message digest, occurrence and part."""
    from pipelines.store import get_account
    from pipelines.store.engine import now
    from pipelines.store.erase import erase_key, erase_rows, hash_number, number_forms, purge_store_rows
    from pipelines.store.schema import campaigns

    engine = open_store(store_url)
    account = get_account(engine).id
    with engine.begin() as connection:
        for campaign in ("c1", "c2"):
            connection.execute(campaigns.insert(), {"id": campaign, "account_id": account, "name": campaign,
                                                    "type": "notification", "status": "finished", "spec": "",
                                                    "created_at": now(), "updated_at": now()})
    for campaign in ("c1", "c1/tests", "c2", "elsewhere"):
        writer = StoreLedger(engine, campaign, "batch-0-bind-0", group=8)
        writer.intents([_key(1), _key(2)])
        writer.close()

    def keys(campaign: str) -> list[str]:
        with engine.connect() as connection:
            return sorted(set(connection.execute(select(send_ledger.c.key).where(
                send_ledger.c.campaign == campaign, send_ledger.c.key.is_not(None))).scalars()))

    forms = number_forms(engine, _key(1).split("\x1f")[0])
    assert erase_rows(engine, forms, account)["send_ledger"] == 3  # c1, its test sends, c2: not another's
    hashed = forms.hash + _key(1)[_key(1).index("\x1f"):]
    assert keys("c1") == keys("c1/tests") == keys("c2") == sorted([hashed, _key(2)])
    assert keys("elsewhere") == sorted([_key(1), _key(2)])
    assert purge_store_rows(engine, "c2", {}, erase_key(engine))["send_ledger"] == 1
    number = _key(2).split("\x1f")[0]
    assert keys("c2") == sorted([hashed, hash_number(erase_key(engine), number) + _key(2)[len(number):]])


def test_send7_a_decision_on_no_part_writes_nothing(store_url):
    """Every part in flight confirmed by a receipt: the policy decides on none (SEND-7)."""
    writer = StoreLedger(open_store(store_url), "c1", "batch-0-bind-0", group=8)
    writer.decide([], "held", "in flight when the sender stopped")
    writer.intents([])
    writer.close()
    with open_store(store_url).connect() as connection:
        assert connection.execute(select(send_ledger.c.event)).scalars().all() == ["open"]


def test_plus1_a_campaign_begun_with_ledger_files_is_resumed_with_the_store(store_url, tmp_path, monkeypatch):
    """Its files and the store's rows are one ledger: what either holds as accepted is not sent again."""
    ledger_dir = tmp_path / "bucket" / "campaigns" / "c1" / "dispatch" / "ledger"
    monkeypatch.setenv("SMSFLOW_LEDGER", "files")
    before = Ledger(ledger_dir, "batch-all-bind-0", group=8)
    before.intents([_key(1), _key(2)])
    before.sent(_key(1))
    before.outcome(_key(1), P.ESME_ROK, "f1")
    before.close()
    monkeypatch.setenv("SMSFLOW_LEDGER", "store")
    after = StoreLedger(open_store(store_url), "c1", "batch-all-bind-0", group=8)
    after.intents([_key(2)])
    after.sent_many([_key(2)])
    after.outcome(_key(2), P.ESME_ROK, "s2")
    after.close()
    state = ledger_state(ledger_dir)
    assert dict(zip(*state.select("key", "message_id"))) == {_key(1): "f1", _key(2): "s2"}


def test_plus1_a_senders_own_connections_notice_a_vanished_peer_within_seconds(store_url):
    """The lock and ledger connections (ledger_store.dedicated) ask PostgreSQL for TCP keepalives of 10 s + 3 × 5 s:
    a worker host that vanished loses its advisory locks in ~25 s, so its batch's retry on another worker is not
    refused for hours (PLUS-1)."""
    from sqlalchemy import text

    from pipelines.dispatch.ledger_store import dedicated

    engine = open_store(store_url)
    if engine.dialect.name != "postgresql":
        assert dedicated(engine).dialect.name == "sqlite"  # a file of this host: no peer to lose
        return
    with dedicated(engine).connect() as connection:
        shown = [connection.execute(text(f"SHOW {name}")).scalar_one()
                 for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")]
    assert shown == ["10s", "5s", "3"] or shown == ["10", "5", "3"], shown
