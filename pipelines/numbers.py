"""Mobile numbers (NUM-1, NUM-2): whole-column normalisation to E.164, exactly as Google's phonenumbers decides.

The verdict for a raw string is, by definition, phonenumbers' own:
``parse(raw, "FR")`` → ``INT_MOBILE`` = E.164, ``MF_COUNTRY`` = ``region_code_for_number``, ``MF_VALID`` =
``is_valid_number`` and type MOBILE or FIXED_LINE_OR_MOBILE; a raw string that does not parse has no E.164 and
no country.

Calling phonenumbers once per row costs ~30 µs, so this module settles the common shapes (digits with spaces,
dots or dashes, an optional leading ``+`` or international prefix) with Polars expressions that replay
phonenumbers' parsing steps on whole columns, using the regular expressions and lengths of phonenumbers' own
metadata (``PhoneMetadata``), loaded at run time: a new phonenumbers release brings its new number plans with
it. Every string the fast path cannot settle with certainty (letters, brackets, extensions, unknown country
codes, countries whose national prefix needs a transform rule, ...) goes to the full parser, once per
*distinct* string. ``tests/unit/test_numbers.py`` proves the two paths agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import polars as pl
from phonenumbers import PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, NumberParseException

DEFAULT_REGION = "FR"

# phonenumbers' own bounds on a national significant number (phonenumberutil._MIN/_MAX_LENGTH_FOR_NSN).
_MIN_NSN, _MAX_NSN = 2, 17
_SMS_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_NON_GEO = "001"

# A shape the fast path may settle: an optional single leading '+', then digits and the separators people
# type (space, dot, dash). Anything else (letters, brackets, slashes, several '+', unusual spaces) is left
# to phonenumbers itself.
_FAST_SHAPE = r"^ *\+?[0-9][0-9 .\-]*$"
_SEPARATORS = [" ", ".", "-"]
# Fewer digits than this are decided by phonenumbers (its "too short"/"not a number" paths).
_FAST_MIN_DIGITS = 5

NUMBER_COLUMNS = {"INT_MOBILE": pl.String, "MF_VALID": pl.Boolean, "MF_COUNTRY": pl.String}


@dataclass(frozen=True)
class NumberVerdict:
    """phonenumbers' verdict on one raw string."""

    int_mobile: str | None
    valid: bool
    country: str | None


def reference_verdict(raw: str | None, region: str = DEFAULT_REGION) -> NumberVerdict:
    """The verdict of the full phonenumbers parser for one raw string (the definition the fast path meets)."""
    if raw is None:
        return NumberVerdict(None, False, None)
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        return NumberVerdict(None, False, None)
    valid = phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _SMS_TYPES
    return NumberVerdict(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        valid,
        phonenumbers.region_code_for_number(number),
    )


# --- the fast path: phonenumbers' parsing steps as Polars expressions --------------------------------------


def _full(pattern: str | None) -> str | None:
    """A regex that matches the whole string, as phonenumbers' ``fullmatch``."""
    return None if not pattern else f"^(?:{pattern})$"


def _desc_matches(nsn: pl.Expr, desc) -> pl.Expr:
    """phonenumberutil._is_number_matching_desc: possible lengths, then the full national number pattern."""
    if desc is None or not desc.national_number_pattern:
        return pl.lit(False)
    matches = nsn.str.contains(_full(desc.national_number_pattern))
    if desc.possible_length:
        matches = nsn.str.len_bytes().is_in(list(desc.possible_length)) & matches
    return matches


def _pattern_matches(nsn: pl.Expr, desc) -> pl.Expr:
    """phonenumberutil._match_national_number (pattern only, no length check)."""
    if desc is None or not desc.national_number_pattern:
        return pl.lit(False)
    return nsn.str.contains(_full(desc.national_number_pattern))


def _length_result(nsn: pl.Expr, metadata) -> pl.Expr:
    """phonenumberutil._test_number_length for type UNKNOWN, as one of the ValidationResult names."""
    lengths = list(metadata.general_desc.possible_length)
    local = list(metadata.general_desc.possible_length_local_only or ())
    size = nsn.str.len_bytes()
    return (
        pl.when(size.is_in(local) if local else pl.lit(False)).then(pl.lit("LOCAL_ONLY"))
        .when(size == lengths[0]).then(pl.lit("POSSIBLE"))
        .when(size < lengths[0]).then(pl.lit("TOO_SHORT"))
        .when(size > lengths[-1]).then(pl.lit("TOO_LONG"))
        .when(size.is_in(lengths[1:])).then(pl.lit("POSSIBLE"))
        .otherwise(pl.lit("INVALID_LENGTH"))
    )


def _strip_national_prefix(frame: pl.DataFrame, column: str, metadata) -> pl.DataFrame:
    """phonenumberutil._maybe_strip_national_prefix_carrier_code, for metadata without a transform rule.

    Rewrites `column` in place; each regex runs once over the column.
    """
    prefix = metadata.national_prefix_for_parsing
    if not prefix:
        return frame
    general = metadata.general_desc
    if prefix.isdigit():  # a plain prefix such as FR's "0": no regex needed
        matched = pl.col(column).str.starts_with(prefix)
        stripped = pl.when(matched).then(pl.col(column).str.slice(len(prefix))).otherwise(pl.col(column))
    else:
        anchored = f"^(?:{prefix})"
        matched, stripped = pl.col(column).str.contains(anchored), pl.col(column).str.replace(anchored, "")
    frame = frame.with_columns(
        matched.alias("_np_match"),
        stripped.alias("_np_stripped"),
        _pattern_matches(pl.col(column), general).alias("_np_viable"),
    )
    keep_original = pl.col("_np_viable") & ~_pattern_matches(pl.col("_np_stripped"), general)
    return frame.with_columns(
        pl.when(pl.col("_np_match") & ~keep_original).then(pl.col("_np_stripped")).otherwise(pl.col(column))
        .alias(column)
    ).drop("_np_match", "_np_stripped", "_np_viable")


def _parse_national(frame: pl.DataFrame, column: str, metadata) -> pl.DataFrame:
    """parse()'s last step: strip the national prefix when what remains has a possible length."""
    stripped = _strip_national_prefix(frame.select(pl.col(column)), column, metadata)[column]
    refused = _length_result(pl.col("_stripped"), metadata).is_in(["TOO_SHORT", "LOCAL_ONLY", "INVALID_LENGTH"])
    return frame.with_columns(stripped.alias("_stripped")).with_columns(
        pl.when(refused).then(pl.col(column)).otherwise(pl.col("_stripped")).alias(column)
    ).drop("_stripped")


def _special_matches(nsn: pl.Expr, metadata) -> pl.Expr:
    """Any of the types checked before fixed line and mobile (premium rate … voicemail).

    Descriptions with the same possible lengths share one alternation regex: a whole-string match of
    `(?:a)|(?:b)` is a whole-string match of a or of b, so one pass replaces several.
    """
    by_lengths: dict[tuple[int, ...], list[str]] = {}
    for desc in (metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
                 metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail):
        if desc is not None and desc.national_number_pattern:
            by_lengths.setdefault(tuple(desc.possible_length or ()), []).append(desc.national_number_pattern)
    matches = []
    for lengths, patterns in by_lengths.items():
        match = nsn.str.contains("^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$")
        matches.append(nsn.str.len_bytes().is_in(list(lengths)) & match if lengths else match)
    return pl.any_horizontal(matches) if matches else pl.lit(False)


def _type_flags(frame: pl.DataFrame, metadata) -> tuple[pl.Series, pl.Series]:
    """(valid, sms) for `_nsn` in one region's plan: _number_type_helper != UNKNOWN, and type MOBILE or
    FIXED_LINE_OR_MOBILE."""
    nsn = pl.col("_nsn")
    flags = frame.select(
        _desc_matches(nsn, metadata.general_desc).alias("general"),
        _special_matches(nsn, metadata).alias("special"),
        _desc_matches(nsn, metadata.fixed_line).alias("fixed"),
        _desc_matches(nsn, metadata.mobile).alias("mobile"),
    )
    general, special, fixed, mobile = (flags[name] for name in ("general", "special", "fixed", "mobile"))
    same = bool(metadata.same_mobile_and_fixed_line_pattern)
    if same:
        mobile_like, known = fixed, fixed
    else:
        mobile_like, known = (fixed & mobile) | (~fixed & mobile), fixed | mobile
    return general & (special | known), general & ~special & mobile_like


@lru_cache(maxsize=None)
def _fast_country_codes() -> dict[int, str]:
    """Country codes whose numbers the fast path may settle, with their main region.

    Left to the full parser: non-geographic codes (+800, +882, ...) and codes whose main region strips its
    national prefix with a transform rule (AR, BR, JP, ...).
    """
    codes = {}
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        main = regions[0]
        if main == _NON_GEO:
            continue
        metadata = PhoneMetadata.metadata_for_region(main)
        if metadata is None or metadata.national_prefix_transform_rule:
            continue
        codes[code] = main
    return codes


@lru_cache(maxsize=None)
def _country_code_by_first_digits() -> dict[str, str]:
    """phonenumberutil._extract_country_code as a table: first three digits → the country code they start with.

    Country codes are prefix-free, so the shortest known prefix is the one phonenumbers finds first.
    """
    known = {str(code) for code in COUNTRY_CODE_TO_REGION_CODE}
    table = {}
    for value in range(100, 1000):
        first = str(value)
        for size in (1, 2, 3):
            if first[:size] in known:
                table[first] = first[:size]
                break
    return table


def _settle_country(frame: pl.DataFrame, code: int) -> pl.DataFrame:
    """For rows of one country code: the national significant number, region, validity and SMS-ability."""
    main = PhoneMetadata.metadata_for_region(_fast_country_codes()[code])
    frame = _parse_national(frame.rename({"_national": "_nsn"}), "_nsn", main)
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    if len(regions) == 1:
        valid, sms = _type_flags(frame, main)
        region = pl.Series([regions[0]] * frame.height, dtype=pl.String)
    else:
        # phonenumberutil._region_code_for_number_from_list: leading digits, else the first region whose
        # number plan knows the number.
        region = pl.Series([None] * frame.height, dtype=pl.String)
        valid = sms = pl.Series([False] * frame.height)
        for name in reversed(regions):
            metadata = PhoneMetadata.metadata_for_region(name)
            if metadata is None:
                continue
            region_valid, region_sms = _type_flags(frame, metadata)
            if metadata.leading_digits:
                claims = frame["_nsn"].str.contains(f"^(?:{metadata.leading_digits})")
            else:
                claims = region_valid
            region = pl.select(pl.when(claims).then(pl.lit(name)).otherwise(region)).to_series()
            valid = pl.select(pl.when(claims).then(region_valid).otherwise(valid)).to_series()
            sms = pl.select(pl.when(claims).then(region_sms).otherwise(sms)).to_series()
    size = pl.col("_nsn").str.len_bytes()
    return frame.select(
        "_row",
        ((size >= _MIN_NSN) & (size <= _MAX_NSN)).alias("_settled"),
        pl.concat_str([pl.lit(f"+{code}"), pl.col("_nsn")]).alias("INT_MOBILE"),
        (valid & sms).alias("MF_VALID"),
        region.alias("MF_COUNTRY"),
    )


def _fast_path(raw: pl.Series, region: str) -> pl.DataFrame:
    """Settle what the Polars replay of phonenumbers' parse can; rows it cannot settle are absent."""
    default = PhoneMetadata.metadata_for_region(region)
    default_code = str(default.country_code)
    frame = (
        pl.DataFrame({"_raw": raw}).with_row_index("_row")
        .filter(pl.col("_raw").str.contains(_FAST_SHAPE).fill_null(False))
        .select("_row", pl.col("_raw").str.replace_many(_SEPARATORS, [""] * len(_SEPARATORS)).alias("_text"))
        .select(
            "_row",
            pl.col("_text").str.starts_with("+").alias("_plus"),
            pl.col("_text").str.strip_prefix("+").alias("_digits"),
        )
        .filter(pl.col("_digits").str.len_bytes() >= _FAST_MIN_DIGITS)
    )
    # _maybe_strip_i18n_prefix_and_normalize: a '+', or the default region's international prefix (00)
    # not followed by a 0.
    idd = default.international_prefix
    if idd.isdigit():
        idd_size = pl.when(pl.col("_digits").str.starts_with(idd)).then(pl.lit(len(idd), dtype=pl.UInt32))
    else:
        idd_size = pl.col("_digits").str.extract(f"^({idd})", 1).str.len_bytes()
    frame = frame.with_columns(idd_size.alias("_idd"))
    after_idd = pl.col("_digits").str.slice(pl.col("_idd").fill_null(0))
    by_idd = ~pl.col("_plus") & pl.col("_idd").is_not_null() & ~after_idd.str.starts_with("0")
    frame = frame.with_columns(
        pl.when(pl.col("_plus")).then(pl.col("_digits")).when(by_idd).then(after_idd).alias("_international")
    )
    international = frame.filter(pl.col("_international").is_not_null())
    national = frame.filter(pl.col("_international").is_null())

    # International: a country code from the table (the parser refuses 2 digits or less after the prefix).
    table = _country_code_by_first_digits()
    international = international.with_columns(
        pl.col("_international").str.slice(0, 3).replace_strict(table, default=None, return_dtype=pl.String)
        .alias("_code")
    ).filter(pl.col("_code").is_not_null() & (pl.col("_international").str.len_bytes() > _MIN_NSN))
    international = international.select(
        "_row",
        pl.col("_code").cast(pl.Int64).alias("_cc"),
        pl.col("_international").str.slice(pl.col("_code").str.len_bytes()).alias("_national"),
    )

    # National: a number written with the default country code but no '+' (33612345678) loses the code when
    # that makes a better national number (_maybe_extract_country_code).
    with_code = national.filter(pl.col("_digits").str.starts_with(default_code))
    if with_code.height:
        with_code = _strip_national_prefix(
            with_code.with_columns(pl.col("_digits").str.slice(len(default_code)).alias("_without")), "_without",
            default,
        )
        general = default.general_desc
        takes_code = (
            (~_pattern_matches(pl.col("_digits"), general) & _pattern_matches(pl.col("_without"), general))
            | (_length_result(pl.col("_digits"), default) == "TOO_LONG")
        )
        with_code = with_code.filter(takes_code).select("_row", pl.col("_without").alias("_national"))
        national = national.join(with_code, on="_row", how="left")
    else:
        national = national.with_columns(pl.lit(None, dtype=pl.String).alias("_national"))
    national = national.select(
        "_row",
        pl.lit(default.country_code, dtype=pl.Int64).alias("_cc"),
        pl.coalesce("_national", "_digits").alias("_national"),
    )

    frame = pl.concat([international, national]).filter(
        pl.col("_cc").is_in(list(_fast_country_codes())) & (pl.col("_national").str.len_bytes() >= _MIN_NSN)
    )
    schema = {"_row": pl.UInt32, "_settled": pl.Boolean, **NUMBER_COLUMNS}
    settled = [
        _settle_country(part.drop("_cc"), code).cast(schema)
        for (code,), part in frame.partition_by("_cc", as_dict=True).items()
    ]
    if not settled:
        return pl.DataFrame(schema=schema)
    return pl.concat(settled).filter(pl.col("_settled"))


def _full_parser(raws: pl.Series, region: str) -> pl.DataFrame:
    """phonenumbers itself, once per distinct raw string."""
    distinct = raws.unique().to_list()
    verdicts = [reference_verdict(raw, region) for raw in distinct]
    return pl.DataFrame(
        {
            "_raw": distinct,
            "INT_MOBILE": [v.int_mobile for v in verdicts],
            "MF_VALID": [v.valid for v in verdicts],
            "MF_COUNTRY": [v.country for v in verdicts],
        },
        schema={"_raw": pl.String, **NUMBER_COLUMNS},
    )


@dataclass
class NumberStats:
    """How many rows each path settled (for benchmarks and logs)."""

    fast: int = 0
    full: int = 0
    distinct_full: int = 0


def normalise_numbers(raw: pl.Series, region: str = DEFAULT_REGION, stats: NumberStats | None = None) -> pl.DataFrame:
    """INT_MOBILE, MF_VALID and MF_COUNTRY for every raw string, in order (NUM-1, NUM-2)."""
    raw = raw.cast(pl.String)
    fast = _fast_path(raw, region)
    settled = pl.Series([False], dtype=pl.Boolean).extend_constant(False, raw.len() - 1) if raw.len() else \
        pl.Series([], dtype=pl.Boolean)
    settled = settled.scatter(fast["_row"], True)
    columns = {name: pl.Series(name, [None] * raw.len(), dtype=dtype).scatter(fast["_row"], fast[name])
               for name, dtype in NUMBER_COLUMNS.items()}
    unsettled = pl.DataFrame({"_raw": raw}).with_row_index("_row").filter(~settled)
    if stats is not None:
        stats.fast += fast.height
        stats.full += unsettled.height
    if unsettled.height:
        parsed = _full_parser(unsettled["_raw"], region)
        if stats is not None:
            stats.distinct_full += parsed.height
        verdicts = unsettled.join(parsed, on="_raw", how="left", nulls_equal=True, maintain_order="left")
        for name in NUMBER_COLUMNS:
            columns[name] = columns[name].scatter(verdicts["_row"], verdicts[name])
    return pl.DataFrame(columns).with_columns(pl.col("MF_VALID").fill_null(False))
