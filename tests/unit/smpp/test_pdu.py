"""SEND-6: SMPP 3.4 PDUs as pure functions, no sockets (pipelines/smpp/pdu.py)."""

from __future__ import annotations

import pytest
import smpplib.client
import smpplib.smpp

from pipelines.smpp import pdu as P


def test_send6_smpplib_submit_sm_decodes_field_for_field():
    client = smpplib.client.Client("127.0.0.1", 1)
    built = smpplib.smpp.make_pdu("submit_sm", client=client, source_addr_ton=5, source_addr="MABOUTIQUE",
                                  dest_addr_ton=1, dest_addr_npi=1, destination_addr="33612345678", esm_class=0x40,
                                  data_coding=8, short_message=b"\x05\x00\x03\x07\x02\x01" + "жé".encode("utf-16-be"),
                                  registered_delivery=1, validity_period="261124200000004+")
    command_id, status, sequence, body = P.split(bytearray(built.generate()))[0]
    message = P.parse_short_message(body)
    assert (command_id, status, sequence) == (P.SUBMIT_SM, 0, built.sequence)
    assert (message.source_addr, message.source_addr_ton, message.destination_addr) == ("MABOUTIQUE", 5,
                                                                                       "33612345678")
    assert message.validity_period == "261124200000004+" and message.registered_delivery == 1
    assert P.concatenation(message) == (7, 2, 1)
    assert P.user_data(message).decode("utf-16-be") == "жé"


def test_send6_short_message_encode_decode_round_trip_with_tlvs():
    message = P.ShortMessage(source_addr="33612345678", destination_addr="36184", esm_class=P.ESM_DELIVERY_RECEIPT,
                             short_message=b"id:1 stat:DELIVRD", tlvs={P.TAG_MESSAGE_STATE: b"\x02",
                                                                       P.TAG_RECEIPTED_MESSAGE_ID: b"1\x00"})
    assert P.parse_short_message(P.build_short_message(message)) == message
    sar = P.ShortMessage(tlvs={P.TAG_SAR_MSG_REF_NUM: b"\x01\x2c", P.TAG_SAR_TOTAL_SEGMENTS: b"\x03",
                               P.TAG_SAR_SEGMENT_SEQNUM: b"\x02"})
    assert P.concatenation(sar) == (300, 3, 2)
    udh16 = P.ShortMessage(esm_class=P.ESM_UDHI, short_message=bytes((6, 8, 4, 1, 44, 3, 2)) + b"x")
    assert P.concatenation(udh16) == (300, 3, 2) and P.user_data(udh16) == b"x"


def test_send6_split_rejects_garbage_lengths():
    with pytest.raises(P.PduError):
        P.split(bytearray(b"\x00\x00\x00\x05" + b"\x00" * 12))
    buffer = bytearray(P.encode(P.ENQUIRE_LINK, 0, 1) + b"\x00\x00")
    assert P.split(buffer) == [(P.ENQUIRE_LINK, 0, 1, b"")] and buffer == bytearray(b"\x00\x00")
