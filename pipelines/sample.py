"""Realistic sample CRM exports (French names with accents, mixed number formats), for the demo and benchmarks.

Generated with whole-column Polars expressions from a seeded hash, so 10M rows take seconds and the same
seed always gives the same file.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

CIVILITES = ["M.", "Mme", "Mme", "M.", ""]
PRENOMS = [
    "Amélie", "Benoît", "Céline", "Chloé", "Émile", "François", "Hélène", "Jérôme", "Léa", "Noël",
    "Zoé", "Maël", "Anaïs", "Gaëlle", "Loïc", "Thérèse", "Raphaël", "Inès", "Joël", "Cécile",
    "Jean", "Marie", "Pierre", "Sophie", "Lucas", "Camille", "Hugo", "Manon", "Louis", "Julie",
]
NOMS = [
    "Dupont", "Lefèvre", "Bégué", "Côté", "Müller", "Martin", "Bernard", "Thomas", "Petit", "Robert",
    "Richard", "Durand", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Garçon", "Leroy", "Roux",
    "Fournier", "Girard", "Bonnet", "Rousseau", "Mercier", "Blanc", "Guérin", "Boyer", "Chevalier", "Faure",
]
VILLES = [
    "Paris", "Besançon", "Orléans", "Saint-Étienne", "Nîmes", "Béziers", "Lyon", "Marseille", "Évry",
    "Châteauroux", "Créteil", "Angoulême", "Nantes", "Lille", "Grenoble", "Montréal-la-Cluse",
]

MOBILE_PREFIXES = ["60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77", "78", "79"]

# How a number is written, by share (out of 1000): mostly French mobiles in every format people type.
NUMBER_FORMATS: list[tuple[int, str]] = [
    (300, "fr_spaced"),      # 06 12 34 56 78
    (250, "fr_compact"),     # 0612345678
    (60, "fr_no_zero"),      # 612345678
    (80, "fr_plus"),         # +33 6 12 34 56 78
    (60, "fr_plus_compact"),  # +33612345678
    (40, "fr_idd"),          # 0033612345678
    (40, "fr_dots"),         # 06.12.34.56.78
    (30, "fr_dashes"),       # 06-12-34-56-78
    (30, "be_plus"),         # +32 470 12 34 56
    (20, "de_idd"),          # 0049 1512 3456789
    (20, "fr_landline"),     # 01 23 45 67 89 (valid number, not a mobile)
    (15, "too_short"),       # 06 12 34 56
    (5, "letters"),          # 06 12 AB 56 78
    (15, "empty"),           # (blank)
    (20, "dom"),             # +262 692 12 34 56 (La Réunion)
]


def _pick(values: list[str], seed: int) -> pl.Expr:
    """A column of values drawn from `values` by a seeded hash of the row index."""
    index = (pl.col("_i").hash(seed) % len(values)).cast(pl.Int64)
    return pl.lit(pl.Series(values, dtype=pl.String)).gather(index)


def _digits(n: int, seed: int) -> pl.Expr:
    """n pseudo-random decimal digits per row, as a zero-padded string."""
    return (pl.col("_i").hash(seed) % (10**n)).cast(pl.String).str.zfill(n)


def _pairs(digits: pl.Expr, sep: str) -> pl.Expr:
    """'0612345678' → '06{sep}12{sep}34{sep}56{sep}78'."""
    return pl.concat_str([digits.str.slice(i, 2) for i in range(0, 10, 2)], separator=sep)


def sample_contacts(rows: int, seed: int = 42, duplicate_share: float = 0.03) -> pl.DataFrame:
    """A CRM export of `rows` contacts: ~5 % invalid numbers, ~3 % duplicates, some empty fields."""
    frame = pl.DataFrame({"_i": pl.int_range(rows, eager=True, dtype=pl.UInt64)})
    # French mobile ranges (06 and 073 … 079; 063 and 069 are only partly mobile, so left out).
    national = pl.concat_str([pl.lit("0"), _pick(MOBILE_PREFIXES, seed + 1), _digits(7, seed + 2)])
    bucket = (pl.col("_i").hash(seed + 3) % 1000).cast(pl.Int64)
    written = pl.lit(None, dtype=pl.String)
    threshold = 0
    formats = {
        "fr_spaced": _pairs(national, " "),
        "fr_compact": national,
        "fr_no_zero": national.str.slice(1),
        "fr_plus": pl.concat_str([pl.lit("+33 "), national.str.slice(1, 1), pl.lit(" "),
                                  _pairs(national, " ").str.slice(3)]),
        "fr_plus_compact": pl.concat_str([pl.lit("+33"), national.str.slice(1)]),
        "fr_idd": pl.concat_str([pl.lit("0033"), national.str.slice(1)]),
        "fr_dots": _pairs(national, "."),
        "fr_dashes": _pairs(national, "-"),
        "be_plus": pl.concat_str([pl.lit("+32 47"), _digits(1, seed + 4), pl.lit(" "),
                                  _pairs(pl.concat_str([pl.lit("0000"), _digits(6, seed + 5)]), " ").str.slice(6)]),
        "de_idd": pl.concat_str([pl.lit("0049 15"), _digits(2, seed + 6), pl.lit(" "), _digits(7, seed + 7)]),
        "fr_landline": _pairs(pl.concat_str([pl.lit("01"), _digits(8, seed + 8)]), " "),
        "too_short": _pairs(national, " ").str.slice(0, 11),
        "letters": pl.concat_str([_pairs(national, " ").str.slice(0, 6), pl.lit("AB"),
                                  _pairs(national, " ").str.slice(8)]),
        "empty": pl.lit(""),
        "dom": pl.concat_str([pl.lit("+262 692 "), _pairs(pl.concat_str([pl.lit("0000"), _digits(6, seed + 9)]),
                                                          " ").str.slice(6)]),
    }
    chain = None
    for share, name in NUMBER_FORMATS:
        threshold += share
        condition = bucket < threshold
        chain = pl.when(condition).then(formats[name]) if chain is None else chain.when(condition).then(formats[name])
    written = chain.otherwise(formats["fr_spaced"])

    contacts = frame.select(
        pl.col("_i"),
        _pick(CIVILITES, seed + 10).alias("Civilité"),
        _pick(PRENOMS, seed + 11).alias("Prénom"),
        _pick(NOMS, seed + 12).alias("Nom"),
        written.alias("Mobile"),
        _pick(VILLES, seed + 13).alias("Ville"),
        _digits(5, seed + 14).alias("CP"),
        pl.concat_str([(pl.col("_i").hash(seed + 15) % 500).cast(pl.String), pl.lit(",00 €")]).alias("Prix"),
    )
    # Duplicates: a share of rows repeats the number of an earlier row, written the same way.
    duplicate = (pl.col("_i").hash(seed + 16) % 10_000) < int(duplicate_share * 10_000)
    source = (pl.col("_i").hash(seed + 17) % pl.max_horizontal(pl.col("_i"), pl.lit(1))).cast(pl.Int64)
    contacts = contacts.with_columns(
        pl.when(duplicate & (pl.col("_i") > 0)).then(pl.col("Mobile").gather(source)).otherwise(pl.col("Mobile"))
        .alias("Mobile")
    )
    return contacts.drop("_i")


def write_sample_list(path: Path, rows: int, seed: int = 42, encoding: str = "utf-8") -> Path:
    """Write a `;`-separated sample export, UTF-8 (default) or Windows-1252 like many CRMs produce."""
    path.parent.mkdir(parents=True, exist_ok=True)
    contacts = sample_contacts(rows, seed)
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
        contacts.write_csv(path, separator=";", include_bom=encoding.lower().endswith("sig"))
    else:
        text = contacts.write_csv(separator=";")
        path.write_bytes(text.encode(encoding))
    return path
