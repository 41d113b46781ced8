"""ENC-1: one GSM 03.38 alphabet, packed and unpacked, shared by the plan and the wire (pipelines/smpp/gsm7.py)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines import encoding as enc
from pipelines.smpp import gsm7


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
    """3GPP TS 23.038 §6.1.2.3.1: 7 spare bits hold CR (zeros would read as '@'); a reader that only knows the
    octet length gets the text back, except that a final CR on an octet boundary comes back doubled, which
    the standard defines as the same as one CR."""
    septets = gsm7.encode(text)
    read = gsm7.decode(gsm7.unpack_text(gsm7.pack(septets, fill), fill))
    ends_on_boundary = text.endswith("\r") and (fill + 7 * len(septets)) % 8 == 0
    assert read == (text + "\r" if ends_on_boundary else text)


def test_enc1_seven_spare_bits_are_not_read_as_an_at_sign():
    packed = gsm7.pack(gsm7.encode("abcdefg"))
    assert len(packed) == 7 and packed[-1] >> 1 == 0x0D
    assert gsm7.decode(gsm7.unpack_text(packed)) == "abcdefg"


@pytest.mark.parametrize(("text", "fill"), [("\r", 1), ("000\r", 4), ("0000000\r", 0)])
def test_enc1_a_final_cr_on_an_octet_boundary_is_doubled_never_dropped(text, fill):
    """§6.1.2.3.1: the sender adds a second CR, so a receiver dropping the padding CR keeps the wanted one (it
    reads CR CR, the same as CR by the standard's definition); without it the text's own CR would be lost."""
    packed = gsm7.pack(gsm7.encode(text), fill)
    assert gsm7.decode(gsm7.unpack_text(packed, fill)) == text + "\r"
    assert gsm7.decode(gsm7.unpack_text(gsm7.pack(gsm7.encode(text), fill, second_cr=False), fill)) == text[:-1]
