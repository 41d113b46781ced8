"""SMPP 3.4 PDUs, GSM 03.38 and parts, as pure functions (no sockets)."""

from __future__ import annotations

import polars as pl
import pytest
import smpplib.client
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import encoding as enc
from pipelines.dispatch import SmscSettings, source_address, validity_period
from pipelines.smpp import gsm7, parts
from pipelines.smpp import pdu as P


def test_enc1_gsm7_table_round_trips_every_character_including_extension():
    text = gsm7.BASIC.replace("\x1b", "") + "".join(gsm7.EXTENSION.values())
    assert gsm7.decode(gsm7.encode(text)) == text
    assert gsm7.encode("§") == b"\x5f" and gsm7.encode("€") == b"\x1b\x65"


def wire_septets(char: str) -> int:
    """Septets smpp.gsm7 encodes one character into; 0 when it cannot."""
    try:
        return len(gsm7.encode(char))
    except KeyError:
        return 0


def test_enc1_plan_and_wire_share_one_gsm7_alphabet():
    """ENC-1: every character the plan counts as GSM7 the wire encodes, at the septets the plan counted."""
    chars = [chr(code) for code in [*range(0xD800), *range(0xE000, 0x10000), 0x1F600, 0x10348]]
    metrics = enc.text_metrics(pl.Series(chars, dtype=pl.String))
    planned = metrics.select(pl.when("gsm7").then(1 + pl.col("extension")).otherwise(0)).to_series().to_list()
    assert planned == [wire_septets(char) for char in chars]
    assert [enc.is_gsm7(char) for char in chars] == [septets > 0 for septets in planned]
    assert sum(septets == 1 for septets in planned) == 127 and sum(septets == 2 for septets in planned) == 10


@given(st.text(alphabet=st.sampled_from(list(gsm7.BASIC.replace("\x1b", "")) + ["€", "["]), max_size=200),
       st.integers(0, 6))
def test_enc1_gsm7_packing_round_trips(text, fill):
    septets = gsm7.encode(text)
    assert gsm7.unpack(gsm7.pack(septets, fill), len(septets), fill) == septets


@given(st.text(alphabet=st.sampled_from(list(gsm7.BASIC.replace("\x1b", "")) + ["€", "["]), min_size=1,
               max_size=200), st.integers(0, 6))
def test_enc1_packed_text_read_from_its_octets_alone_is_the_text(text, fill):
    """3GPP TS 23.038 §6.1.2.3.1: 7 spare bits hold CR (zeros would read as '@'), a final CR on an octet
    boundary is doubled; a reader that only knows the octet length gets the text back exactly."""
    septets = gsm7.encode(text)
    assert gsm7.decode(gsm7.unpack_text(gsm7.pack(septets, fill), fill)) == text


def test_enc1_seven_spare_bits_are_not_read_as_an_at_sign():
    packed = gsm7.pack(gsm7.encode("abcdefg"))
    assert len(packed) == 7 and packed[-1] >> 1 == 0x0D
    assert gsm7.decode(gsm7.unpack_text(packed)) == "abcdefg"


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


TEXT = st.text(alphabet=st.sampled_from(list("abcde €[{~|\f éàÇ") + ["😀", "ж"]), min_size=1, max_size=700)
# An escape pair or a surrogate pair laid on or next to a part boundary: where a splitter cuts a pair in two.
AT_BOUNDARY = st.builds(
    lambda case, boundary, shift, tail: case[0] * (boundary * case[2] - 1 + shift) + case[1] + case[0] * tail,
    st.sampled_from([("a", "€", 153), ("é", "{", 153), ("a", "\f", 153), ("ж", "😀", 67), ("a", "😀", 67)]),
    st.integers(1, 5), st.integers(-2, 2), st.integers(0, 160))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, AT_BOUNDARY), min_size=1, max_size=10), st.booleans())
def test_enc1_enc2_parts_on_the_wire_equal_the_planned_parts(texts, packed):
    """ENC-1/ENC-2: one splitter: the wire cuts where the plan counted, within 153/67 units, no pair cut."""
    planned = enc.measure(pl.Series(texts, dtype=pl.String))
    for text, (encoding, _, count) in zip(texts, planned.iter_rows()):
        pieces = parts.split(text, encoding, ref=7, packed=packed)
        assert len(pieces) == count
        assert [piece.text for piece in pieces] == enc.part_texts(text, encoding)
        assert "".join(piece.text for piece in pieces) == text
        limit = (153 if encoding == "GSM7" else 67) if count > 1 else (160 if encoding == "GSM7" else 70)
        for number, piece in enumerate(pieces, start=1):
            body = piece.short_message[6:] if piece.udh else piece.short_message
            if packed or encoding == "UCS2":  # what fits the 140 octets of one SMS (unpacked: the SMSC packs)
                assert len(piece.short_message) <= 140
            if encoding == "UCS2":
                assert len(body) // 2 <= limit and body.decode("utf-16-be") == piece.text  # no lone surrogate
            else:
                if packed:  # read as a handset does, knowing only the octets (§6.1.2.3.1 padding dropped)
                    body = gsm7.unpack_text(body, 1 if piece.udh else 0)
                    if piece.text.endswith("\r") and len(piece.short_message) == 140:
                        body += b"\r"  # a full part ending with CR has no room for the second CR
                assert len(body) <= limit and gsm7.decode(body) == piece.text and not body.endswith(b"\x1b")
            if piece.udh:
                assert piece.short_message[:6] == bytes((5, 0, 3, 7, count, number))


@pytest.mark.parametrize("text, sizes", [
    ("a" * 152 + "€" + "a" * 152, [152, 153, 1]),  # the pair would straddle septets 153/154: it opens part 2
    ("a" * 151 + "€" + "a" * 153, [153, 153]),  # the pair ends part 1 exactly
    ("ж" * 66 + "😀" + "ж" * 66, [66, 67, 1]),  # the surrogate pair would straddle units 67/68
    ("ж" * 65 + "😀" + "ж" * 67, [67, 67]),
])
def test_enc1_enc2_split_never_cuts_an_escape_or_surrogate_pair(text, sizes):
    encoding = "GSM7" if enc.is_gsm7(text) else "UCS2"
    pieces = parts.split(text, encoding, ref=1)
    units = [len(p.short_message) - 6 if encoding == "GSM7" else (len(p.short_message) - 6) // 2 for p in pieces]
    assert units == sizes
    assert enc.measure(pl.Series([text])).row(0)[2] == len(sizes)


def test_msg1_source_address_ton():
    assert source_address("MABOUTIQUE") == (5, 0, "MABOUTIQUE")
    assert source_address("36184") == (3, 0, "36184")


def test_plus9_validity_period_is_smpp_absolute_time():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    until = datetime(2026, 11, 24, 20, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert validity_period(until) == "261124200000004+"
    assert validity_period(None) == ""


def test_send6_settings_from_an_airflow_style_url():
    settings = SmscSettings.from_url("smpp://user%40x:p%3Ass@smsc.example:2776?binds=2&window=32&tps=500")
    assert (settings.system_id, settings.password, settings.host, settings.port) == ("user@x", "p:ss",
                                                                                     "smsc.example", 2776)
    assert (settings.binds, settings.window, settings.tps) == (2, 32, 500.0)
    with pytest.raises(ValueError):
        SmscSettings.from_url("http://x")
