"""The synthetic campaign of bench/warehouse.py: N recipients laid out as smsflow writes them, made with Polars
expressions (no Python loop over rows): plan/recipients.parquet and summary.json from a real plan of a tiny list,
the send ledger (dispatch/ledger) and receipts and replies (dispatch/events)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import polars as pl

CAMPAIGN = "bench"
MESSAGE = "Bonjour ${Civilité} ${Prénom} ${Nom}, -20 % chez nous à ${Ville} ce week-end. STOP 36184"
LONG = " Offre valable jusqu'à dimanche soir dans tous nos magasins et sur le site, hors articles déjà soldés."
SPEC = {"name": "Warehouse benchmark", "type": "marketing", "lists": ["list.csv"], "sender": "MABOUTIQUE",
        "message": MESSAGE, "account": {"allowed_countries": ["FR"]}}
LIST = "Civilité;Prénom;Nom;Mobile;Ville\nMme;Amélie;Bégué;06 12 34 56 78;Paris\nM.;Jean;Dupont;0612;Lyon\n"
CIVILITIES = ["Mme", "M.", "Mme/M"]
FIRST = ["Amélie", "Jean", "Zoé", "Noël", "Inès", "Hugo", "Léa", "Lucas", "Chloé", "Théo", "Manon", "Louis", "Maëlle"]
LAST = ["Bégué", "Dupont", "Martin", "Lefèvre", "Moreau", "Girard", "Roux", "Fournier", "Mercier", "Faure",
        "Blanc", "Guérin", "Muller", "Henry", "Rousseau", "Perrin", "Morel", "Mathieu", "Clément", "Gauthier"]
CITIES = ["Paris", "Lyon", "Marseille", "Nantes", "Lille", "Rennes", "Saint-Étienne", "Orléans", "Besançon"]


def template_plan(folder: Path) -> Path:
    """A real plan of a two-row list: its summary.json and recipients.parquet's schema are the plan's own."""
    import yaml

    from pipelines.plan import plan_file

    if (folder / "plan" / "summary.json").exists():
        return folder / "plan"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "list.csv").write_text(LIST, encoding="utf-8")
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC, allow_unicode=True), encoding="utf-8")
    return plan_file(spec, folder / "plan").out_dir


def _pick(values: list[str], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values)).gather(index % len(values))


def plan_rows(recipients: int, schema: pl.Schema) -> pl.DataFrame:
    """N plan rows: ~5 % badly formatted numbers (status 2), ~2 % duplicates of the row before (status 4)."""
    i = pl.col("i")
    invalid, duplicate = i % 20 == 7, (i % 50 == 13) & (i % 20 != 7)
    number = (i - duplicate.cast(pl.Int64)) * 7919 % 100_000_000  # 7919 is prime: distinct numbers up to 10^8
    digits = number.cast(pl.String).str.zfill(8)
    sendable = ~invalid & ~duplicate
    civility, first, last, city = (_pick(CIVILITIES, i), _pick(FIRST, i // 3), _pick(LAST, i // 7),
                                   _pick(CITIES, i // 11))
    message = pl.concat_str(pl.lit("Bonjour "), civility, pl.lit(" "), first, pl.lit(" "), last,
                            pl.lit(", -20 % chez nous à "), city, pl.lit(" ce week-end. STOP 36184"),
                            pl.when(i % 5 == 0).then(pl.lit(LONG)).otherwise(pl.lit("")))
    frame = pl.select(pl.int_range(recipients, dtype=pl.Int64).alias("i")).select(
        pl.lit("list.csv").alias("REF_LIST"), (i + 1).alias("ID_LINE"),
        pl.when(invalid).then(pl.lit("06 12 ") + digits.str.slice(0, 3)).otherwise(pl.lit("06") + digits)
        .alias("MOBILE_RAW"),
        pl.when(invalid).then(None).otherwise(pl.lit("+336") + digits).alias("INT_MOBILE"),
        (~invalid).alias("MF_VALID"), (~invalid).alias("MF_ALLOW"),
        pl.when(invalid).then(None).otherwise(pl.lit("FR")).alias("MF_COUNTRY"),
        pl.when(invalid).then(2).when(duplicate).then(4).cast(pl.Int32).alias("STATUS_CODE"),
        pl.when(invalid).then(pl.lit("Numéro mal formaté")).when(duplicate).then(pl.lit("Doublons"))
        .alias("STATUS_TEXT"),
        pl.when(sendable).then(message).alias("MESSAGE"), pl.lit("GSM7").alias("ENCODING"),
        pl.when(~sendable).then(0).when(i % 5 == 0).then(2).otherwise(1).cast(pl.Int32).alias("PARTS"),
        civility.alias("Civilité"), first.alias("Prénom"), last.alias("Nom"),
        (pl.lit("06") + digits).alias("Mobile"), city.alias("Ville"))
    return frame.select(schema.names()).cast(dict(schema))


def synthetic_campaign(folder: Path, recipients: int, name: str = CAMPAIGN) -> Path:
    """bucket/campaigns/<name> with plan/, dispatch/ledger/ and dispatch/events/ (reused when already there)."""
    from pipelines.dlr import EVENT_SCHEMA, KEY_SEPARATOR, keyed_rows

    root = folder / "bucket" / "campaigns" / name
    if (root / "dispatch" / "events" / "events-1.parquet").exists():
        return root
    plan_dir = root / "plan"
    template = template_plan(folder / "template")
    shutil.copytree(template, plan_dir, dirs_exist_ok=True)
    plan = plan_rows(recipients, pl.read_parquet_schema(template / "recipients.parquet"))
    plan.write_parquet(plan_dir / "recipients.parquet")
    summary = json.loads((template / "summary.json").read_text(encoding="utf-8"))
    counts = plan.group_by("STATUS_CODE").len()
    summary.update(rows=plan.height, sendable=int(plan.get_column("STATUS_CODE").is_null().sum()),
                   invalid=int((plan.get_column("STATUS_CODE") == 2).sum()),
                   duplicates=int((plan.get_column("STATUS_CODE") == 4).sum()),
                   credits=int(plan.get_column("PARTS").sum()),
                   status_counts={str(code): n for code, n in counts.iter_rows() if code is not None})
    (plan_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")

    started = time.time() - 3600
    parts = keyed_rows(plan).select("MESSAGE_KEY", "INT_MOBILE", pl.int_ranges(1, pl.col("PARTS") + 1).alias("part")) \
        .explode("part").with_row_index("n", offset=1)
    refused = pl.col("n") % 300 == 0
    ledger_dir, events_dir = root / "dispatch" / "ledger", root / "dispatch" / "events"
    ledger_dir.mkdir(parents=True, exist_ok=True)
    events_dir.mkdir(parents=True, exist_ok=True)
    parts.select((pl.col("MESSAGE_KEY") + KEY_SEPARATOR + pl.col("part").cast(pl.String)).alias("key"),
                 pl.when(refused).then(pl.lit("refused")).otherwise(pl.lit("accepted")).alias("event"),
                 pl.when(refused).then(11).otherwise(0).alias("status"),
                 pl.when(refused).then(None).otherwise(pl.col("n").cast(pl.String)).alias("message_id"),
                 (started + pl.col("n") / 1000).alias("ts")).write_ndjson(ledger_dir / "batch-1.jsonl")
    receipts = parts.filter(~refused & (pl.col("n") % 33 != 0)).select(
        pl.lit("receipt").alias("kind"),
        pl.from_epoch(((started + 30 + pl.col("n") / 1000) * 1e6).cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC").alias("received_at"),
        pl.col("n").cast(pl.String).alias("message_id"),
        pl.when(pl.col("n") % 20 == 1).then(pl.lit("UNDELIV")).when(pl.col("n") % 50 == 2).then(pl.lit("EXPIRED"))
        .otherwise(pl.lit("DELIVRD")).alias("stat"),
        pl.when(pl.col("n") % 20 == 1).then(pl.lit("001")).otherwise(pl.lit("000")).alias("err"),
        pl.lit("").alias("done_date"), pl.lit(None, dtype=pl.String).alias("handset"),
        pl.lit(None, dtype=pl.String).alias("service"), pl.lit("").alias("text"))
    replies = parts.filter((pl.col("part") == 1) & (pl.col("n") % 97 == 5)).select(
        pl.lit("reply").alias("kind"),
        pl.from_epoch(((started + 600 + pl.col("n") / 100) * 1e6).cast(pl.Int64), time_unit="us")
        .dt.replace_time_zone("UTC").alias("received_at"),
        *(pl.lit(None, dtype=pl.String).alias(name) for name in ("message_id", "stat", "err", "done_date")),
        pl.col("INT_MOBILE").str.strip_prefix("+").alias("handset"), pl.lit("36184").alias("service"),
        _pick(["Merci", "OK", "Super !", "C'est jusqu'à quand ?"], pl.col("n")).alias("text"))
    pl.concat([receipts.cast(EVENT_SCHEMA), replies.cast(EVENT_SCHEMA)]).write_parquet(
        events_dir / "events-1.parquet")
    return root
