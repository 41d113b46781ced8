"""Alphabet, length and billing of rendered messages (ENC-1 … ENC-6), on whole columns.

GSM 03.38 7-bit is the default alphabet: 160 septets in one SMS, else parts of 153 septets; a character of
the extension table takes two septets (escape + character) and that pair is never split across two parts.
UCS2 counts UTF-16 code units: 70 in one SMS, else parts of 67; a surrogate pair (emoji) is never split.
`part_texts` is the one splitter: it counts the parts the columns cannot settle and `smpp.parts.split` cuts
the wire parts with it; the alphabet is read from `smpp.gsm7`'s septet tables.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate

import polars as pl

from pipelines.smpp import gsm7

# GSM 03.38 (3GPP TS 23.038 §6.2.1) read from the septet tables the wire encoder uses, so what the plan
# counts as GSM7 is exactly what smpp.gsm7 can encode: the default alphabet without the escape code 0x1B,
# and the extension table (§6.2.1.1), whose characters cost the escape septet plus themselves.
GSM7_BASIC = "".join(char for value, char in enumerate(gsm7.BASIC) if value != gsm7.ESCAPE)
GSM7_EXTENSION = "".join(gsm7.EXTENSION.values())

SINGLE_PART = {"GSM7": 160, "UCS2": 70}
MULTI_PART = {"GSM7": 153, "UCS2": 67}

_NON_GSM7 = "[^" + re.escape(GSM7_BASIC + GSM7_EXTENSION) + "]"
_EXTENSION = "[" + re.escape(GSM7_EXTENSION) + "]"
_ASTRAL = "[\U00010000-\U0010ffff]"
_EXTENSION_RE, _ASTRAL_RE = re.compile(_EXTENSION), re.compile(_ASTRAL)

# ENC-4: explicit replacements for characters NFKD does not bring back to GSM7.
_TYPOGRAPHIC = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'",
    "“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "″": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-", "‒": "-", "−": "-", "―": "-",
    "…": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\t": " ",
    "œ": "oe", "Œ": "OE", "•": "-", "·": ".",
}

# ENC-3: text emoticons turned into emoji when the emoji option is on (UCS2 only).
EMOTICONS = {
    ";-)": "😉", ";)": "😉", ":-)": "🙂", ":)": "🙂", ":-(": "🙁", ":(": "🙁", ":-D": "😃", ":D": "😃",
    ":-P": "😛", ":P": "😛", ":-p": "😛", ":p": "😛", ":-O": "😮", ":O": "😮", ":-*": "😘", ":*": "😘",
    ":'(": "😢", "<3": "❤️", "^^": "😊", "XD": "😆", "B-)": "😎", ":-|": "😐",
}

_GSM7_CHARS = frozenset(GSM7_BASIC + GSM7_EXTENSION)
_GSM7_BASIC_CHARS = frozenset(GSM7_BASIC)


@lru_cache(maxsize=4096)
def gsm7_replacement(char: str) -> str | None:
    """ENC-4: the GSM7 text for a non-GSM7 character, or None when there is no faithful one.

    Typographic quotes, dashes, ellipsis, spaces and ligatures from a fixed table; otherwise the character's
    NFKD decomposition without its combining marks (ç→c, â→a, ễ→e, ﬁ→fi), when that decomposition starts
    with a GSM7 basic character: the whole of it if all of it is GSM7, else that first character.
    """
    if char in _TYPOGRAPHIC:
        return _TYPOGRAPHIC[char]
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if not decomposed or decomposed[0] not in _GSM7_BASIC_CHARS:
        return None
    return decomposed if all(c in _GSM7_CHARS for c in decomposed) else decomposed[0]


def replace_non_gsm7(messages: pl.Series) -> pl.Series:
    """ENC-4 on a whole column: one `replace_many` with a table built from the distinct characters present."""
    present = (
        messages.filter(messages.str.contains(_NON_GSM7).fill_null(False))
        .str.extract_all(_NON_GSM7).explode().drop_nulls().unique().to_list()
    )
    table = {char: replacement for char in present if (replacement := gsm7_replacement(char)) is not None}
    if not table:
        return messages
    return messages.str.replace_many(list(table), list(table.values()))


def emoticons_to_emoji(messages: pl.Series) -> pl.Series:
    """ENC-3: `;-)` → 😉 and the other common emoticons."""
    return messages.str.replace_many(list(EMOTICONS), list(EMOTICONS.values()))


def is_gsm7(text: str) -> bool:
    return all(char in _GSM7_CHARS for char in text)


def part_texts(text: str, encoding: str) -> list[str]:
    """The texts of one message's parts (ENC-1, ENC-2): greedy, never cutting an escape or surrogate pair."""
    doubles = _EXTENSION_RE if encoding == "GSM7" else _ASTRAL_RE
    costs = [1] * len(text)
    for match in doubles.finditer(text):  # one step per two-unit character, not per character
        costs[match.start()] = 2
    units = list(accumulate(costs, initial=0))  # units[i]: septets or UTF-16 units of text[:i]
    if units[-1] <= SINGLE_PART[encoding]:
        return [text]
    limit, chunks, start = MULTI_PART[encoding], [], 0
    while start < len(text):
        # The longest prefix that fits: a pair that would straddle the boundary opens the next part.
        end = bisect_right(units, units[start] + limit, start) - 1
        chunks.append(text[start:end])
        start = end
    return chunks


def exact_parts(text: str, encoding: str) -> int:
    """Parts of one message, counted by the one splitter that also cuts it for the wire."""
    return len(part_texts(text, encoding))


def text_metrics(texts: pl.Series) -> pl.DataFrame:
    """Per text: GSM7 or not, characters, extension characters (2 septets) and astral ones (2 UTF-16 units)."""
    return pl.DataFrame({"text": texts}).select(
        (~pl.col("text").str.contains(_NON_GSM7)).fill_null(True).alias("gsm7"),
        pl.col("text").str.len_chars().fill_null(0).cast(pl.Int64).alias("chars"),
        pl.col("text").str.count_matches(_EXTENSION).fill_null(0).cast(pl.Int64).alias("extension"),
        pl.col("text").str.count_matches(_ASTRAL).fill_null(0).cast(pl.Int64).alias("astral"),
    )


def parts_from_metrics(messages: pl.Series, metrics: pl.DataFrame) -> pl.DataFrame:
    """ENCODING, LENGTH and PARTS from per-message metrics (gsm7, chars, extension, astral).

    The naive part count ceil(length / part size) is exact unless pairs that cannot be split meet a part
    boundary; only rows whose length is within one unit per boundary of the next part count are re-counted
    one by one.
    """
    gsm7 = pl.col("gsm7")
    frame = metrics.with_columns(messages.alias("message")).with_columns(
        pl.when(gsm7).then(pl.lit("GSM7")).otherwise(pl.lit("UCS2")).alias("ENCODING"),
        pl.when(gsm7).then(pl.col("extension")).otherwise(pl.col("astral")).alias("_doubles"),
    ).with_columns((pl.col("chars") + pl.col("_doubles")).alias("LENGTH"))
    single = pl.when(gsm7).then(SINGLE_PART["GSM7"]).otherwise(SINGLE_PART["UCS2"])
    multi = pl.when(gsm7).then(MULTI_PART["GSM7"]).otherwise(MULTI_PART["UCS2"])
    naive = pl.when(pl.col("LENGTH") <= single).then(1).otherwise((pl.col("LENGTH") + multi - 1) // multi)
    frame = frame.with_columns(naive.cast(pl.Int64).alias("PARTS"))
    # Each boundary can waste at most one unit, so only these rows can need an extra part.
    near_boundary = (
        (pl.col("LENGTH") > single) & (pl.col("_doubles") > 0)
        & (pl.col("LENGTH") + pl.col("PARTS") - 1 > pl.col("PARTS") * multi)
    )
    frame = frame.with_row_index("_row")
    recount = frame.filter(near_boundary.fill_null(False))
    if recount.height:
        exact = [exact_parts(text, encoding) for text, encoding in recount.select("message", "ENCODING").iter_rows()]
        fixed = recount.select("_row", pl.Series("PARTS", exact, dtype=pl.Int64))
        frame = frame.update(fixed, on="_row")
    return frame.select(
        pl.when(pl.col("message").is_null()).then(None).otherwise(pl.col("ENCODING")).alias("ENCODING"),
        pl.col("LENGTH").fill_null(0),
        pl.col("PARTS").fill_null(0),
    )


def measure(messages: pl.Series) -> pl.DataFrame:
    """ENCODING (GSM7/UCS2), LENGTH (septets or UTF-16 units) and PARTS of each message (ENC-1, ENC-2)."""
    return parts_from_metrics(messages, text_metrics(messages))
