"""ENC-1 … ENC-5: alphabet, replacement, septet/unit counting and parts."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import encoding as enc
from pipelines.render import MessageOptions, compile_template, compose


def measured(text: str) -> tuple[str, int, int]:
    row = enc.measure(pl.Series([text])).row(0)
    return row


@pytest.mark.parametrize("length, parts", [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (918, 6), (919, 7)])
def test_enc1_gsm7_160_then_parts_of_153(length, parts):
    assert measured("a" * length) == ("GSM7", length, parts)


@pytest.mark.parametrize("char", list("€[]{}^~|\\") + ["\f"])
def test_enc1_extension_chars_count_twice(char):
    assert measured(char * 80) == ("GSM7", 160, 1)
    assert measured(char * 81) == ("GSM7", 162, 2)


def test_enc1_escape_pair_never_split_at_the_153_boundary():
    text = "a" * 152 + "€" + "a" * 152  # 306 septets: 2 parts if the pair could be split, 3 as it cannot
    assert measured(text) == ("GSM7", 306, 3)
    assert enc.exact_parts(text, "GSM7") == 3
    assert measured("a" * 151 + "€" + "a" * 153) == ("GSM7", 306, 2)  # the pair ends part 1 exactly


@pytest.mark.parametrize("length, parts", [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_enc2_ucs2_70_then_parts_of_67(length, parts):
    assert measured("ж" * length) == ("UCS2", length, parts)


def test_enc2_surrogate_pair_never_split_at_the_67_boundary():
    text = "ж" * 66 + "😀" + "ж" * 66  # 134 UTF-16 units
    assert measured(text) == ("UCS2", 134, 3)
    assert measured("ж" * 65 + "😀" + "ж" * 67) == ("UCS2", 134, 2)


@pytest.mark.parametrize("char", ["ç", "â", "ê", "ë", "ễ", "œ", "’", "\u00a0", "😀", "ж", "`"])
def test_enc2_non_gsm7_characters_need_ucs2(char):
    assert measured("Bonjour " + char)[0] == "UCS2"


@pytest.mark.parametrize("source, expected", [
    ("ç", "c"), ("â", "a"), ("ê", "e"), ("ë", "e"), ("ễ", "e"), ("Ê", "E"), ("ï", "i"), ("ô", "o"), ("û", "u"),
    ("‘", "'"), ("’", "'"), ("“", '"'), ("”", '"'), ("«", '"'), ("»", '"'), ("–", "-"), ("—", "-"),
    ("…", "..."), ("\u00a0", " "), ("œ", "oe"), ("Œ", "OE"),
])
def test_enc4_replacements(source, expected):
    assert enc.replace_non_gsm7(pl.Series([f"x{source}y"]))[0] == f"x{expected}y"


def test_enc4_gsm7_accents_stay_and_cedilla_case_matters():
    kept = "éèàùìòÉÇÄÖÑÜäöñü"
    assert enc.replace_non_gsm7(pl.Series([kept]))[0] == kept
    assert enc.replace_non_gsm7(pl.Series(["ça Ça"]))[0] == "ca Ça"


def test_enc4_characters_without_gsm7_equivalent_stay_and_need_ucs2():
    assert enc.replace_non_gsm7(pl.Series(["ж 😀"]))[0] == "ж 😀"


def test_enc3_emoticons_become_emoji():
    template = compile_template("Merci ${Nom} ;-) :)", ["Nom"])
    row = compose(pl.DataFrame({"Nom": ["Zoé"]}), template, {}, MessageOptions(emojis=True)).row(0, named=True)
    assert row["MESSAGE"] == "Merci Zoé 😉 🙂"
    assert row["ENCODING"] == "UCS2"


TEXT = st.text(alphabet=st.sampled_from(list("abcdefgh €[{~éàç") + ["😀", "ж", "’", "\u00a0"]), max_size=420)
# A pair laid on or next to the k-th part boundary, where the naive count and the exact one differ.
AT_BOUNDARY = st.builds(
    lambda case, boundary, shift, tail: case[0] * (boundary * case[2] - 1 + shift) + case[1] + case[0] * tail,
    st.sampled_from([("a", "€", 153), ("a", "|", 153), ("ж", "😀", 67), ("a", "😀", 67)]),
    st.integers(1, 6), st.integers(-2, 2), st.integers(0, 160))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, AT_BOUNDARY), min_size=1, max_size=20))
def test_enc1_enc2_vectorised_parts_equal_exact_count(texts):
    frame = enc.measure(pl.Series(texts, dtype=pl.String))
    for text, (encoding, length, parts) in zip(texts, frame.iter_rows()):
        expected_encoding = "GSM7" if enc.is_gsm7(text) else "UCS2"
        assert encoding == expected_encoding
        chunks = enc.part_texts(text, expected_encoding)  # the one splitter smpp.parts.split cuts with
        assert parts == len(chunks) == enc.exact_parts(text, expected_encoding)
        assert "".join(chunks) == text
        unit = (lambda c: 2 if c in enc.GSM7_EXTENSION else 1) if encoding == "GSM7" else (
            lambda c: 2 if ord(c) > 0xFFFF else 1)
        assert length == sum(unit(c) for c in text)
        # Greedy by its definition: each part but the last is full (its next character would not fit).
        size = enc.MULTI_PART[encoding] if len(chunks) > 1 else enc.SINGLE_PART[encoding]
        for chunk, following in zip(chunks, chunks[1:] + [""]):
            used = sum(unit(c) for c in chunk)
            assert used <= size and (not following or used + unit(following[0]) > size)


VALUE = st.text(alphabet=st.sampled_from(list("ab €[éç") + ["😀", "ж", "…", "œ"]), max_size=90)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(VALUE, VALUE), min_size=1, max_size=15), st.booleans())
def test_enc6_measuring_from_parts_equals_measuring_the_whole_message(rows, replace):
    """compose() measures a ${} message from its literal and field parts; it must equal the whole text's count."""
    template = compile_template("€ ${A} et ${B}, ${A}! STOP 36184", ["A", "B"])
    frame = pl.DataFrame({"A": [a for a, _ in rows], "B": [b for _, b in rows]})
    composed = compose(frame, template, {"A": "x"}, MessageOptions(replace_non_gsm7=replace))
    assert composed.select("ENCODING", "LENGTH", "PARTS").rows() == enc.measure(composed["MESSAGE"]).rows()
    if replace:
        expected = enc.replace_non_gsm7(compose(frame, template, {"A": "x"}, MessageOptions(False))["MESSAGE"])
        assert composed["MESSAGE"].to_list() == expected.to_list()
