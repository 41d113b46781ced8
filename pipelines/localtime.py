"""Recipients' local time (PLUS-10): the place (time zone, French holidays) each number's window is judged in.

The zone is phonenumbers' (`phonenumbers.timezone.time_zones_for_number`) when it answers exactly one. Where it
answers several (a mobile of +262 is 'Indian/Mayotte' or 'Indian/Reunion', one of +689 any of Polynesia's three
zones) or 'Etc/Unknown', the zone falls back to the one of the number's region (`REGION_ZONES`: the zone most of
its people live in), the region being phonenumbers' or, failing that, the country code's (`COUNTRY_CODE_REGIONS`).
A number with no zone either way stays in Europe/Paris. Both fallbacks are counted (`ZONE_SOURCE`) so the send
says how many recipients they concern.

Holidays: metropolitan France's, plus the local ones of the number's overseas region (a `holidays` subdivision of
France, `REGION_HOLIDAYS`). Alsace-Moselle's extra days are not applied: a mobile number does not say where in
France its owner lives.

Numbers are looked up once per distinct number, and metropolitan +33 numbers (all in Europe/Paris) not at all:
the result is joined back onto the rows.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.window import Place

PARIS_ZONE = "Europe/Paris"
UNKNOWN_ZONE = "Etc/Unknown"

# The zone of a region where phonenumbers answers several or none. Polynesia spans three zones: Tahiti's
# (UTC-10, the Society Islands, ~90 % of its people) stands for all, so a Marquesas (UTC-9:30) or Gambier (UTC-9)
# recipient may get a message up to an hour earlier in the morning than the window says.
REGION_ZONES = {
    "FR": "Europe/Paris", "RE": "Indian/Reunion", "YT": "Indian/Mayotte", "GP": "America/Guadeloupe",
    "BL": "America/St_Barthelemy", "MF": "America/Marigot", "MQ": "America/Martinique", "GF": "America/Cayenne",
    "PM": "America/Miquelon", "WF": "Pacific/Wallis", "NC": "Pacific/Noumea", "PF": "Pacific/Tahiti",
    "TF": "Indian/Kerguelen",
}
# The region of a French country code when phonenumbers cannot tell (an unknown range): +262 is Réunion's
# first (Mayotte's numbers are told apart by their ranges), +590 Guadeloupe's (St-Martin's, St-Barthélemy's
# share its zone).
COUNTRY_CODE_REGIONS = {33: "FR", 262: "RE", 508: "PM", 590: "GP", 594: "GF", 596: "MQ", 681: "WF", 687: "NC",
                        689: "PF"}
# The French holidays of a region: a subdivision of France in the `holidays` package (None: metropolitan).
REGION_HOLIDAYS = {"GP": "971", "MQ": "972", "GF": "973", "RE": "974", "YT": "976", "BL": "BL", "MF": "MF",
                   "NC": "NC", "PF": "PF", "PM": "PM", "WF": "WF", "TF": "TF"}

PLACE_COLUMNS = {"ZONE": pl.String, "HOLIDAYS": pl.String, "ZONE_SOURCE": pl.String}
# ZONE_SOURCE: `phonenumbers` (its one zone), `region` (its several or unknown zone, replaced by the region's),
# `default` (no zone known: Europe/Paris).
FALLBACK_SOURCES = ("region", "default")


def place_of_number(number: str) -> tuple[str, str | None, str]:
    """(zone, holidays subdivision, source) of one E.164 number, as the module's docstring says."""
    import phonenumbers
    from phonenumbers import timezone

    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return PARIS_ZONE, None, "default"
    region = phonenumbers.region_code_for_number(parsed) or COUNTRY_CODE_REGIONS.get(parsed.country_code)
    holidays = REGION_HOLIDAYS.get(region)
    zones = [zone for zone in timezone.time_zones_for_number(parsed) if zone != UNKNOWN_ZONE]
    if len(zones) == 1:
        return zones[0], holidays, "phonenumbers"
    if region in REGION_ZONES:
        return REGION_ZONES[region], holidays, "region"
    return PARIS_ZONE, holidays, "default"


def with_places(rows: pl.DataFrame, number: str = "INT_MOBILE") -> pl.DataFrame:
    """`rows` with each recipient's place: ZONE, HOLIDAYS (None: metropolitan) and ZONE_SOURCE (PLACE_COLUMNS)."""
    metropolitan = pl.col(number).str.starts_with("+33")
    others = rows.lazy().filter(~metropolitan & pl.col(number).is_not_null()).select(pl.col(number).unique()) \
        .collect().get_column(number).to_list()
    looked_up = pl.DataFrame([(value, *place_of_number(value)) for value in others],
                             schema={number: pl.String, **PLACE_COLUMNS}, orient="row")
    joined = rows.drop(PLACE_COLUMNS, strict=False).join(looked_up, on=number, how="left", maintain_order="left")
    return joined.with_columns(
        pl.when(metropolitan).then(pl.lit(PARIS_ZONE)).otherwise(pl.col("ZONE").fill_null(PARIS_ZONE)).alias("ZONE"),
        pl.when(metropolitan).then(pl.lit("phonenumbers")).otherwise(pl.col("ZONE_SOURCE").fill_null("default"))
        .alias("ZONE_SOURCE"))


def fallbacks(rows: pl.DataFrame) -> dict[str, int]:
    """PLUS-10: recipients of `rows` (with places) whose zone is a fallback, per 'region zone' or 'default zone'."""
    counted = rows.filter(pl.col("ZONE_SOURCE").is_in(FALLBACK_SOURCES)).group_by("ZONE_SOURCE", "ZONE").len()
    return {f"{zone} ({'by region' if source == 'region' else 'no zone known'})": count
            for source, zone, count in counted.sort("ZONE_SOURCE", "ZONE").iter_rows()}


def describe_fallbacks(counts: dict[str, int]) -> str:
    """One line for the log and the send's report: how many recipients got which fallback zone (PLUS-10)."""
    total = sum(counts.values())
    detail = ", ".join(f"{count:,} in {what}" for what, count in counts.items())
    return (f"{total:,} recipients' time zone is not one phonenumbers names (it answers several, or Etc/Unknown): "
            f"their window is judged in their region's zone, else Europe/Paris: {detail} [PLUS-10]")


def plan_places(plan_dir: Path) -> dict[Place, int]:
    """The places of a plan's sendable rows and how many recipients each (the campaign's earliest opening:
    `window.earliest_opening(policy, plan_places(plan_dir), now)`)."""
    from pipelines.dispatch.parts import sendable_rows

    return count_places(with_places(sendable_rows(plan_dir).select("INT_MOBILE")))


def count_places(rows: pl.DataFrame) -> dict[Place, int]:
    """Recipients per Place in `rows` (with places)."""
    return {Place(zone, holidays): count
            for zone, holidays, count in rows.group_by("ZONE", "HOLIDAYS").len().iter_rows()}
