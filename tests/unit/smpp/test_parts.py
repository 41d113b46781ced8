"""ENC-1, ENC-2: the parts on the wire are the planned parts (pipelines/smpp/parts.py)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import encoding as enc
from pipelines.smpp import gsm7, parts

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
