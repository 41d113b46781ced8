"""`smsflow test-send` and `smsflow receive` as a user runs them, against the simulator process."""

from __future__ import annotations

from helpers import smsflow, write_list, write_spec

from pipelines.dlr import read_events


def test_send3_test_send_personalised_with_the_chosen_row(smsc, bucket):
    simulator = smsc()
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n0622222222;Loïc\n")
    spec = write_spec(bucket, lists=["a.csv"], sender="MABOUTIQUE")
    result = smsflow("test-send", str(spec), "--numbers", "0612345678; 0798765432", "--row", "2",
                     "--smsc", simulator.url())
    assert result.returncode == 0, result.stderr
    messages = {m["destination"]: m["text"] for m in simulator.records("message")}
    assert messages == {"33612345678": "Bonjour Loic", "33798765432": "Bonjour Loic"}
    assert "0612345678: accepted" in result.stderr
    assert not (bucket / "campaign").exists()  # a test touches no campaign ledger


def test_send3_test_send_refuses_invalid_numbers(smsc, bucket):
    simulator = smsc()
    write_list(bucket / "a.csv", "Mobile;Prénom\n0611111111;Ann\n")
    result = smsflow("test-send", str(write_spec(bucket, lists=["a.csv"])), "--numbers", "0123456789",
                     "--smsc", simulator.url())
    assert result.returncode != 0 and "SEND-3" in (result.stderr + result.stdout)
    assert simulator.records("part") == []


def test_plus4_receive_records_late_receipts_and_replies(smsc, bucket):
    import smpplib.client

    simulator = smsc(replies=[{"number": "33612345678", "text": "STOP", "delay": 0.0}])
    client = smpplib.client.Client(simulator.host, simulator.port, timeout=5)
    client.connect()
    client.bind_transmitter(system_id="smsflow", password="smsflow")
    client.send_message(source_addr_ton=3, source_addr="36184", dest_addr_ton=1, destination_addr="33612345678",
                        short_message=b"Promo", registered_delivery=1)
    client.read_pdu()
    client.unbind()
    client.disconnect()
    result = smsflow("receive", str(bucket / "events"), "--smsc", simulator.url(), "--seconds", "2")
    assert result.returncode == 0, result.stderr
    events = read_events(bucket / "events").sort("kind")
    assert events.select("kind", "handset", "stat", "text").rows() == [
        ("receipt", "33612345678", "DELIVRD", "Promo"), ("reply", "33612345678", None, "STOP")]
