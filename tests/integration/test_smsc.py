"""The SMSC simulator over TCP, spoken to by smpplib as any ESME would (SEND-6)."""

from __future__ import annotations

import signal
import time

import pytest
import smpplib.client
import smpplib.exceptions
import smpplib.smpp
from helpers import smsflow

from pipelines.smpp import gsm7


def client(simulator, **kwargs):
    connection = smpplib.client.Client(simulator.host, simulator.port, timeout=5, allow_unknown_opt_params=True)
    connection.connect()
    return connection


def submit(connection, destination="33612345678", text=b"Bonjour", **fields):
    pdu = connection.send_message(source_addr_ton=5, source_addr="MABOUTIQUE", dest_addr_ton=1, dest_addr_npi=1,
                                  destination_addr=destination, short_message=text, data_coding=fields.pop(
                                      "data_coding", 0), registered_delivery=fields.pop("registered_delivery", 1),
                                  **fields)
    return pdu, connection.read_pdu()


def wait_for(condition, seconds=30.0):
    """Poll until `condition()` holds; generous, as a loaded machine delays receipts but never loses them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def read_deliveries(connection, count, seconds=30.0):
    """Read until `count` deliver_sm arrived (smpplib acknowledges each); fails rather than hangs."""
    received = []
    connection.set_message_received_handler(lambda pdu: received.append(pdu))
    deadline = time.monotonic() + seconds
    while len(received) < count:
        assert time.monotonic() < deadline, f"{len(received)} of {count} deliver_sm in {seconds} s"
        connection.read_once()
    return received


def burst(connection, destinations):
    """Send every submit_sm before reading any answer, so the whole burst lands within milliseconds."""
    for destination in destinations:
        connection.send_message(source_addr_ton=5, source_addr="MABOUTIQUE", dest_addr_ton=1, dest_addr_npi=1,
                                destination_addr=destination, short_message=b"Bonjour")
    return [connection.read_pdu().status for _ in destinations]


def test_send6_bind_checks_the_password(smsc):
    simulator = smsc()
    connection = client(simulator)
    with pytest.raises(smpplib.exceptions.PDUError) as error:
        connection.bind_transceiver(system_id="smsflow", password="wrong")
    assert error.value.args[1] == 0x0E  # ESME_RINVPASWD
    connection.disconnect()


@pytest.mark.parametrize("id_format, expected", [("decimal", "1000000"), ("hex", "F4240")])
def test_send6_submit_answered_with_decimal_or_hex_ids(smsc, id_format, expected):
    simulator = smsc(message_id_format=id_format)
    connection = client(simulator)
    connection.bind_transmitter(system_id="smsflow", password="smsflow")
    _, response = submit(connection)
    assert response.command == "submit_sm_resp" and response.status == 0
    assert response.message_id.decode() == expected
    connection.unbind()
    connection.disconnect()
    assert simulator.records("message")[0]["text"] == "Bonjour"


def test_send6_enquire_link_and_garbage_get_answers(smsc):
    simulator = smsc()
    connection = client(simulator)
    connection.bind_transceiver(system_id="smsflow", password="smsflow")
    connection._socket.sendall(bytes.fromhex("00000010 00000015 00000000 00000007".replace(" ", "")))
    assert connection.read_pdu().command == "enquire_link_resp"
    connection._socket.sendall(bytes.fromhex("00000010 000000FF 00000000 00000008".replace(" ", "")))
    nack = connection.read_pdu()
    assert nack.command == "generic_nack" and nack.status == 0x03  # ESME_RINVCMDID
    connection.disconnect()


def test_send6_throttling_over_the_tps_limit(smsc):
    simulator = smsc(tps_per_bind=3)
    connection = client(simulator)
    connection.bind_transmitter(system_id="smsflow", password="smsflow")
    # The SMSC counts submits per second of CLOCK_MONOTONIC, which this process shares: a burst started in the
    # first fifth of a second is answered long before the next one (milliseconds against 800 ms).
    assert wait_for(lambda: time.monotonic() % 1 < 0.2, 3)
    second = int(time.monotonic())
    statuses = burst(connection, [f"3361234567{i}" for i in range(6)])
    assert statuses == [0, 0, 0, 0x58, 0x58, 0x58]  # ESME_RTHROTTLED beyond 3 per second
    assert wait_for(lambda: time.monotonic() >= second + 1, 3)
    assert burst(connection, [f"3369876543{i}" for i in range(3)]) == [0, 0, 0]  # the next second has 3 again
    assert len(simulator.records("part")) == 6
    connection.disconnect()


def test_send6_queue_full_bursts(smsc):
    simulator = smsc(queue_full={"every": 4, "burst": 2})
    connection = client(simulator)
    connection.bind_transmitter(system_id="smsflow", password="smsflow")
    statuses = [submit(connection, destination=f"3361234567{i}")[1].status for i in range(8)]
    assert statuses == [0x14, 0x14, 0, 0, 0x14, 0x14, 0, 0]
    connection.disconnect()


def test_send6_concatenated_messages_reassembled_udh_and_sar(smsc):
    simulator = smsc()
    connection = client(simulator)
    connection.bind_transmitter(system_id="smsflow", password="smsflow")
    for number, chunk in enumerate((b"Hello ", b"world"), start=1):
        submit(connection, text=bytes((5, 0, 3, 9, 2, number)) + gsm7.encode(chunk.decode()), esm_class=0x40)
    for number, chunk in enumerate(("Привет ", "мир"), start=1):
        submit(connection, destination="33698765432", text=chunk.encode("utf-16-be"), data_coding=8,
               sar_msg_ref_num=300, sar_total_segments=2, sar_segment_seqnum=number)
    connection.disconnect()
    messages = {m["destination"]: m for m in simulator.records("message")}
    assert messages["33612345678"]["text"] == "Hello world" and messages["33612345678"]["parts"] == 2
    assert messages["33698765432"]["text"] == "Привет мир"


def test_send6_receipts_intermediate_then_final_with_tlvs(smsc):
    simulator = smsc(intermediate=["ACCEPTD", "ENROUTE"], rules=[{"match": "suffix", "value": "99",
                                                                   "outcome": "UNDELIV", "error": 12}])
    connection = client(simulator)
    connection.bind_transceiver(system_id="smsflow", password="smsflow")
    _, response = submit(connection, destination="33612345699")
    received = read_deliveries(connection, 3)
    texts = [pdu.short_message.decode() for pdu in received]
    assert [text.split("stat:")[1][:7] for text in texts] == ["ACCEPTD", "ENROUTE", "UNDELIV"]
    final = received[-1]
    assert final.esm_class & 0x04
    assert final.receipted_message_id.decode() == response.message_id.decode()
    assert final.message_state == 5  # UNDELIVERABLE
    assert texts[-1].startswith(f"id:{response.message_id.decode()} sub:001 dlvrd:000 submit date:")
    assert " err:012 text:Bonjour" in texts[-1]
    connection.disconnect()


def test_send6_receipts_wait_for_a_receiver_and_replies_follow_delivery(smsc):
    simulator = smsc(replies=[{"number": "33612345678", "text": "Arrêt", "delay": 0.05}])
    transmitter = client(simulator)
    transmitter.bind_transmitter(system_id="smsflow", password="smsflow")
    submit(transmitter)
    transmitter.disconnect()
    assert wait_for(lambda: simulator.records("reply"))
    receiver = client(simulator)
    receiver.bind_receiver(system_id="smsflow", password="smsflow")
    received = read_deliveries(receiver, 2)
    assert received[0].esm_class & 0x04 and b"stat:DELIVRD" in received[0].short_message
    assert received[1].short_message.decode("utf-16-be") == "Arrêt" and received[1].data_coding == 8
    receiver.disconnect()


def kill_after_submit(simulator, destination):
    """A transceiver submits one part asking for a receipt, then dies without reading anything (SEND-7)."""
    connection = client(simulator)
    connection.bind_transceiver(system_id="smsflow", password="smsflow")
    _, response = submit(connection, destination=destination)
    connection.disconnect()  # the socket closes: no unbind, no deliver_sm_resp
    return response.message_id.decode()


def bind_and_collect(simulator, mode="receiver"):
    """Bind, then read every deliver_sm the SMSC sends before it answers an enquire_link sent right after.

    A stored receipt is written right after bind_resp, before the enquire_link is read: nothing is missed.
    """
    connection = client(simulator)
    getattr(connection, f"bind_{mode}")(system_id="smsflow", password="smsflow")
    connection.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=connection))
    received = []
    while (pdu := connection.read_pdu()).command != "enquire_link_resp":
        assert pdu.command == "deliver_sm"
        received.append(pdu)
        connection.send_pdu(smpplib.smpp.make_pdu("deliver_sm_resp", client=connection, sequence=pdu.sequence))
    return connection, received


def test_send7_stored_receipts_of_a_killed_session_go_to_the_next_bind(smsc):
    simulator = smsc(receipts="stored", log_receipts=True)
    message_id = kill_after_submit(simulator, "33612345678")
    assert wait_for(lambda: simulator.records("receipt"))
    receiver, received = bind_and_collect(simulator)
    assert [pdu.receipted_message_id.decode() for pdu in received] == [message_id]
    assert simulator.records("receipt_lost") == []
    receiver.disconnect()


def test_send7_session_receipts_of_a_killed_session_are_lost_and_logged(smsc):
    simulator = smsc(receipts="session", log_receipts=True)
    message_id = kill_after_submit(simulator, "33612345678")
    assert wait_for(lambda: simulator.records("receipt_lost"))
    receiver, received = bind_and_collect(simulator)
    assert received == []
    lost = simulator.records("receipt_lost")
    assert [(record["message_id"], record["stat"], record["destination"]) for record in lost] == [
        (message_id, "DELIVRD", "33612345678")]
    receiver.disconnect()


def test_send7_session_receipts_go_only_to_the_submitting_session(smsc):
    simulator = smsc(receipts="session")
    other, before = bind_and_collect(simulator)  # a receiver of the same system id, bound first
    sender = client(simulator)
    sender.bind_transceiver(system_id="smsflow", password="smsflow")
    _, response = submit(sender)
    received = read_deliveries(sender, 1)
    assert received[0].receipted_message_id == response.message_id
    other.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=other))
    assert other.read_pdu().command == "enquire_link_resp"  # the receipt did not go to the other receiver
    assert before == [] and simulator.records("receipt_lost") == []
    sender.disconnect()
    other.disconnect()


def test_send7_session_receipts_of_a_transmitter_are_lost_and_logged(smsc):
    simulator = smsc(receipts="session")
    transmitter = client(simulator)
    transmitter.bind_transmitter(system_id="smsflow", password="smsflow")
    _, response = submit(transmitter)
    assert wait_for(lambda: simulator.records("receipt_lost"))
    assert [(r["message_id"], r["reason"]) for r in simulator.records("receipt_lost")] == [
        (response.message_id.decode(), "submitting session is a transmitter")]
    transmitter.disconnect()


def test_send6_bind_answered_after_the_bind_delay_then_submits_in_order(smsc):
    simulator = smsc(bind_delay=0.6)
    connection = client(simulator)
    started = time.monotonic()
    connection.bind_transceiver(system_id="smsflow", password="smsflow")
    assert time.monotonic() - started >= 0.6  # a lower bound only: a loaded machine can only make it later
    _, response = submit(connection)
    assert response.status == 0 and response.message_id.decode() == "1000000"
    connection.disconnect()


def test_send6_pdus_sent_behind_a_delayed_bind_are_answered_after_it(smsc):
    simulator = smsc(bind_delay=0.3)
    connection = client(simulator)
    bind = smpplib.smpp.make_pdu("bind_transceiver", client=connection, system_id="smsflow", password="smsflow")
    enquire = smpplib.smpp.make_pdu("enquire_link", client=connection)
    connection._socket.sendall(bind.generate() + enquire.generate())  # pipelined: no wait for bind_resp
    assert [connection.read_pdu().command for _ in range(2)] == ["bind_transceiver_resp", "enquire_link_resp"]
    connection.disconnect()


@pytest.mark.parametrize("user, complaint", [
    ("smsflow:password9", "user 'smsflow': password has 9 characters, SMPP 3.4 allows at most 8"),
    ("a-system-id-of-16:pw", "user 'a-system-id-of-16': system_id has 17 characters, SMPP 3.4 allows at most 15"),
])
def test_send6_users_beyond_smpp_lengths_refused_at_start_with_exit_2(tmp_path, user, complaint):
    result = smsflow("smsc", "--port", "0", "--user", user, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert complaint in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert "password9" not in result.stderr  # the refusal does not echo the password it was given


def test_send6_unknown_receipts_mode_refused_with_exit_2(tmp_path):
    config = tmp_path / "smsc.yaml"
    config.write_text("receipts: forever\nport: 0\n", encoding="utf-8")
    result = smsflow("smsc", "--config", str(config), timeout=60)
    assert result.returncode == 2 and "receipts" in result.stderr and "Traceback" not in result.stderr


def test_send6_sigterm_ends_the_simulator_cleanly_with_sessions_open(smsc):
    simulator = smsc(receipts="session", receipt_delay=60)  # receipts still due, a session still bound
    connection = client(simulator)
    connection.bind_transceiver(system_id="smsflow", password="smsflow")
    submit(connection)
    assert simulator.stop() == 0  # SIGTERM handled: exit status 0, not killed by the signal (-15) nor -9
    assert "Traceback" not in simulator.stderr.read_text(encoding="utf-8")
    assert [record["event"] for record in simulator.records()] == ["part", "message"]
    connection.disconnect()


def test_send6_sigterm_right_after_the_listening_line_is_handled(smsc):
    assert smsc().stop() == 0  # handlers are set before the line is printed: no default SIGTERM death


def test_send6_stop_kills_a_simulator_that_ignores_sigterm(smsc):
    simulator = smsc()
    simulator.process.send_signal(signal.SIGSTOP)  # a hung SMSC: SIGTERM stays pending
    assert simulator.stop(timeout=0.5) == -signal.SIGKILL
    assert simulator.process.poll() == -signal.SIGKILL
