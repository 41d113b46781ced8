"""PLUS-7, BL-2: an Airflow run's batch records the numbers it reached in the account store as soon as it is sent
(`pipelines.campaign.dispatch_batch`, what the DAG's dispatch task runs), not when the run ends: a STOP that the
long-lived `smsflow receive` hears while the run still sends goes to the campaign's account, not to the default one
(found with `make airflow`, whose receiver runs beside every run), and the DAG's sends count against the cap."""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl
import pytest
from helpers import write_list, write_spec
from sqlalchemy import select

from pipelines.campaign import dispatch_batch
from pipelines.dispatch import SmscSettings
from pipelines.dlr import EventWriter
from pipelines.layout import CampaignPaths
from pipelines.optouts import apply_opt_outs_from_events
from pipelines.plan import plan_file
from pipelines.store import create_account, open_store
from pipelines.store.blacklists import blacklist_numbers
from pipelines.store.schema import sends

CONTACTS = "Mobile;Texte\n0611111111;Bonjour Ann\n0622222222;Bonjour Bob\n0633333333;Bonjour Eve\n"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # the store functions run on both elsewhere
def test_plus7_bl2_a_runs_first_batch_is_recorded_at_once_and_a_stop_heard_meanwhile_finds_its_account(
        smsc, bucket, store_url):
    engine = open_store(store_url)
    create_account(engine, "acme")
    write_list(bucket / "specs" / "list.csv", CONTACTS)
    spec = write_spec(bucket / "specs", lists=["list.csv"], message="${Texte}", account="acme")  # a notification:
    # marketing would wait for the window (SEND-2) at night; its sends are recorded all the same
    plan_dir = plan_file(spec, CampaignPaths.in_bucket(bucket, "c1").plan).out_dir
    simulator = smsc()

    dispatch_batch(plan_dir, SmscSettings.from_url(simulator.url()), 0, 2, engine=engine)  # Ann and Bob, not Eve

    # PLUS-7: the two numbers the first batch reached are recorded for acme already; Eve, in the next batch, is not
    with engine.begin() as connection:
        recorded = connection.execute(select(sends.c.account_id, sends.c.campaign_id, sends.c.number)
                                      .order_by(sends.c.number)).all()
    assert [tuple(row) for row in recorded] == [("acme", "c1", "+33611111111"), ("acme", "c1", "+33622222222")]
    # BL-2: Bob answers STOP while the run still sends; the shared receiver's folder names no campaign
    writer = EventWriter(bucket / "events")
    writer.add(kind="reply", message_id=None, stat=None, err="", done_date="", handset="33622222222",
               service="36184", text="STOP", received_at=datetime.now(timezone.utc))
    writer.flush()
    apply_opt_outs_from_events(engine, bucket / "events")
    assert blacklist_numbers(engine, "acme")["own"].to_list() == ["+33622222222"]
    assert blacklist_numbers(engine, "default")["own"].is_empty()
    assert pl.read_parquet(plan_dir / "recipients.parquet").height == 3
