"""Continuous loading (issue 11, PLUS-4, REP-1, REP-2): the micro-batches of receipts and replies the long-lived
`smsflow receive` writes to the bucket's shared events folder, loaded into the warehouse as they come.

A batch names no campaign: a receipt carries the SMSC's message id, a reply the handset's number. The campaigns a
batch belongs to are found on the send ledgers (the truth of what was sent, whether the run is going or finished
days ago): a receipt's campaign is the one whose ledger holds its message id (under any id convention, as the
warehouse matches them), a reply's the campaign that last sent to the number before the reply. Both are joins of
whole columns. Each such campaign's dispatch is then re-loaded (`load_dispatch`: idempotent, the late events of the
shared folder matched to it), and a finished campaign's report and figures are written again, so the REP-2 CSV and
`smsflow stats` show a late receipt without anyone running `smsflow load`.

Callers: `smsflow receive --load` (a worker thread of the receiver) and the `sms_events` DAG (one run per batch
announced as the Asset `smsflow://events`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

log = logging.getLogger(__name__)

LOAD_EVERY = 5.0  # seconds between two loads of the receiver's new micro-batches (issue 11: within 60 s)
ASSET_URI = "smsflow://events/"  # the Airflow Asset a micro-batch is announced as (the sms_events DAG's schedule;
# Airflow writes the URI smsflow://events with this trailing slash)
_LEDGER_COLUMNS = {"campaign": pl.String, "number": pl.String, "message_id": pl.String, "ts": pl.Float64}


@dataclass(frozen=True)
class BatchLoad:
    """What loading micro-batches did: events read, the campaigns they belong to (each re-loaded), and the reports
    written again (finished campaigns)."""

    events: int
    campaigns: tuple[str, ...]
    reports: tuple[str, ...] = ()
    clicks: int = 0  # clicks and previews loaded from the links service's batches (URL-3, URL-4)

    def describe(self) -> str:
        """One line for the receiver's output: what came, which campaigns it changed."""
        came = f"{self.events:,} new event{'' if self.events == 1 else 's'}"
        if self.clicks:
            came += f" and {self.clicks:,} click{'' if self.clicks == 1 else 's'} or preview{'' if self.clicks == 1 else 's'}"
        if not self.campaigns:
            return f"{came}, of no campaign sent from this bucket [PLUS-4]"
        names = ", ".join(self.campaigns)
        reports = f"; report{'' if len(self.reports) == 1 else 's'} of {', '.join(self.reports)} written again" \
            if self.reports else ""
        return (f"{came} loaded into the warehouse: campaign{'' if len(self.campaigns) == 1 else 's'} {names}"
                f"{reports} [PLUS-4]")


class LedgerIndex:
    """Every campaign's sent parts (campaign, number, SMSC message id, time) read from the send ledgers of the
    bucket, each ledger file read again only when it changed (a long-lived receiver reads old campaigns once), and
    from the account store when the ledger is there (issue 13: parts any worker sent; only the rows new since the
    last read)."""

    def __init__(self, bucket: Path):
        self.bucket = Path(bucket)
        self._files: dict[Path, tuple[tuple[int, int], pl.DataFrame]] = {}
        self._stored = None  # ledger_store.StoreSentParts, made at the first read

    def _store_parts(self) -> list[pl.DataFrame]:
        from pipelines.dispatch.ledger import reads_store

        if not reads_store():
            return []
        if self._stored is None:
            from pipelines.dispatch.ledger_store import StoreSentParts, ledger_engine

            self._stored = StoreSentParts(ledger_engine(self.bucket))
        return [self._stored.parts().cast(_LEDGER_COLUMNS)]

    def parts(self) -> pl.DataFrame:
        from pipelines.layout import CampaignPaths

        campaigns = self.bucket / "campaigns"
        folders = sorted(folder for folder in campaigns.iterdir() if folder.is_dir()) if campaigns.is_dir() else []
        frames, seen = [], set()
        for folder in folders:
            ledger = CampaignPaths(folder).ledger
            for path in sorted(ledger.glob("*.jsonl")) if ledger.is_dir() else []:
                seen.add(path)
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                version = (stat.st_mtime_ns, stat.st_size)
                cached = self._files.get(path)
                if cached is None or cached[0] != version:
                    cached = (version, _ledger_parts(path, folder.name))
                    self._files[path] = cached
                frames.append(cached[1])
        for gone in set(self._files) - seen:
            del self._files[gone]
        frames += self._store_parts()
        return pl.concat(frames) if frames else pl.DataFrame(schema=_LEDGER_COLUMNS)


def _ledger_parts(path: Path, campaign: str) -> pl.DataFrame:
    """The parts one ledger file says the SMSC accepted (a message id), with the number (the part key's first
    field, PLUS-1) and the time. A line being written (no newline yet) is left for the next read; a file with a line
    cut by a crash is read up to that line, as `ledger_state` reads it."""
    import io

    from pipelines.dlr import KEY_SEPARATOR

    schema = {"key": pl.String, "message_id": pl.String, "ts": pl.Float64}
    data = path.read_bytes()
    data = data[:data.rfind(b"\n") + 1]
    try:
        frame = pl.read_ndjson(io.BytesIO(data), schema=schema) if data else pl.DataFrame(schema=schema)
    except Exception:  # noqa: BLE001 - a line cut by a crash: the lines before it, as the ledger's own reader
        frame = pl.DataFrame(_whole_lines(data), schema=schema, orient="row")
    return frame.filter(pl.col("message_id").is_not_null() & pl.col("key").is_not_null()).select(
        pl.lit(campaign).alias("campaign"), pl.col("key").str.split(KEY_SEPARATOR).list.first().alias("number"),
        "message_id", "ts").cast(_LEDGER_COLUMNS)


def _whole_lines(data: bytes) -> list[tuple]:
    """(key, message_id, ts) of each line before the first that is not JSON (the rare file a crash cut)."""
    rows = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            break
        rows.append((record.get("key"), record.get("message_id"), record.get("ts")))
    return rows


def campaigns_of_events(events: pl.DataFrame, parts: pl.DataFrame) -> list[str]:
    """The campaigns `events` belong to, given every campaign's sent `parts` (LedgerIndex.parts): a receipt's is
    the campaign whose ledger holds its message id, as text or as the same number written in decimal or in hex
    (an SMSC may answer in one and receipt in the other, PLUS-4); a reply's the campaign that last sent to its number
    before the reply. Whole-column joins; a campaign that only may be concerned is re-loaded too (harmless: a
    re-load is idempotent, and load_dispatch keeps only the receipts that match its parts)."""
    from pipelines.dlr import with_id_keys
    from pipelines.optouts import reply_numbers

    if events.is_empty() or parts.is_empty():
        return []
    found = []
    receipts = events.filter(pl.col("kind") == "receipt").select("message_id").unique()
    if not receipts.is_empty():
        ids = with_id_keys(receipts)
        sent = with_id_keys(parts.select("campaign", "message_id").unique())
        for ours, theirs in (("id_text", "id_text"), ("id_dec", "id_hex"), ("id_hex", "id_dec")):
            found.append(sent.filter(pl.col(theirs).is_not_null())
                         .join(ids.select(ours).drop_nulls().unique(), left_on=theirs, right_on=ours, how="semi")
                         .select("campaign"))
    replies = events.filter(pl.col("kind") == "reply")
    if not replies.is_empty():
        replies = replies.select(reply_numbers(replies.get_column("handset")),
                                 pl.col("received_at").dt.epoch("us").truediv(1e6).alias("at")).with_row_index("reply")
        last = replies.join(parts.select("campaign", "number", "ts"), on="number", how="inner") \
            .filter(pl.col("ts") <= pl.col("at") + 1.0) \
            .filter(pl.col("ts") == pl.col("ts").max().over("reply"))  # 1 s: the SMSC's clock and ours
        found.append(last.select("campaign"))
    if not found:
        return []
    return sorted(pl.concat(found).get_column("campaign").unique().to_list())


def load_event_batches(bucket: Path, files: list[Path] | None = None, *, index: LedgerIndex | None = None,
                       store=None) -> BatchLoad:
    """The micro-batches of receipts and replies (`load_receipt_batches`), then the links service's new batches of
    clicks and previews (pipelines.links.load: every file of events/links the warehouse does not hold yet), and the
    reports of the finished campaigns they concern written again (URL-3, URL-4, REP-1, REP-2)."""
    from dataclasses import replace

    from pipelines.layout import CampaignPaths
    from pipelines.links.clicks import events_folder
    from pipelines.links.load import load_click_batches
    from pipelines.warehouse import in_bucket

    if files is not None:  # announced click batches (AirflowAnnouncer) are among the clicks loaded below
        clicks_folder = events_folder(bucket).resolve()
        files = [file for file in files if Path(file).resolve().parent != clicks_folder]
    loaded = load_receipt_batches(bucket, files, index=index, store=store)
    clicks = load_click_batches(in_bucket(bucket), bucket)
    reports = list(loaded.reports)
    for campaign in clicks.campaigns:
        paths = CampaignPaths.in_bucket(bucket, campaign)
        if campaign not in reports and (paths.report.is_file() or paths.stats.is_file()):
            write_reports(in_bucket(bucket), paths)
            reports.append(campaign)
    return replace(loaded, campaigns=tuple(sorted(set(loaded.campaigns) | set(clicks.campaigns))),
                   reports=tuple(reports), clicks=clicks.events)


def load_receipt_batches(bucket: Path, files: list[Path] | None = None, *, index: LedgerIndex | None = None,
                         store=None) -> BatchLoad:
    """Load micro-batches of the shared events folder (`files`; default: all of them) into the warehouse: each
    campaign they belong to has its dispatch re-loaded with the shared folder's late events (`load_dispatch`,
    idempotent, STOP replies through the account's opt-out path, BL-2), and, once its run finished (its figures were
    written), its REP-2 report and REP-1 figures written again where they were (the finish step's, `smsflow report`'s
    default file)."""
    from pipelines.dlr import EVENT_SCHEMA
    from pipelines.layout import SHARED_EVENTS, CampaignPaths
    from pipelines.warehouse import load_dispatch, in_bucket

    bucket = Path(bucket)
    shared = bucket / SHARED_EVENTS
    if files is None:
        files = sorted(shared.glob("*.parquet")) if shared.is_dir() else []
    files = [Path(file) for file in files if Path(file).is_file()]
    if not files:
        return BatchLoad(0, ())
    events = pl.concat([pl.read_parquet(file) for file in files], how="vertical_relaxed").cast(EVENT_SCHEMA)
    campaigns = campaigns_of_events(events, (index or LedgerIndex(bucket)).parts())
    database, reports = in_bucket(bucket), []
    for campaign in campaigns:
        paths = CampaignPaths.in_bucket(bucket, campaign)
        if not paths.summary.is_file():
            continue
        load_dispatch(database, campaign, paths.ledger, paths.events, shared_events=shared, store=store)
        if paths.report.is_file() or paths.stats.is_file():
            write_reports(database, paths)
            reports.append(campaign)
    log.info("%d event(s) from %d micro-batch(es): campaign(s) %s re-loaded [PLUS-4]", events.height, len(files),
             ", ".join(campaigns) or "none")
    return BatchLoad(events.height, tuple(campaigns), tuple(reports))


def write_reports(database: Path, paths) -> None:
    """A campaign's REP-2 CSV and REP-1 figures (stats.json) written again from the warehouse, each only if it was
    written before (by its run's finish step, or `smsflow report`)."""
    from pipelines.report import campaign_stats, export_csv

    if paths.report.is_file():
        export_csv(database, paths.campaign, paths.report)
    if not paths.stats.is_file():
        return
    figures = campaign_stats(database, paths.campaign)
    staging = paths.stats.with_suffix(".tmp")
    staging.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    staging.replace(paths.stats)


class AirflowAnnouncer:
    """Announces micro-batches to Airflow as events of the Asset `smsflow://events` (extra: `files`, the batch files
    relative to the bucket; one event per hand-on), through its REST API as the user of `url`
    (http://user:password@host:port, the connection URI of `AIRFLOW_CONN_AIRFLOW_API`): the `sms_events` DAG,
    scheduled on that Asset, loads them.

    Airflow may leave an event that came while it created the run of the one before without a run until another
    event comes (apache/airflow#56050, seen here with events milliseconds apart): an event still without a run
    `STUCK_AFTER` seconds later is announced again (a new event; the run it starts loads the stuck ones too, and a
    second load of a batch changes nothing)."""

    STUCK_AFTER = 15.0

    def __init__(self, url: str, bucket: Path):
        from urllib.parse import unquote, urlsplit

        from pipelines.airflow_rest import AirflowApi

        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname:
            raise ValueError(f"the Airflow address {parts.geturl()!r} names no host: give http://user:password@host:port")
        self.api = AirflowApi(f"{parts.scheme or 'http'}://{parts.hostname}:{parts.port or 8080}")
        self.user, self.password = unquote(parts.username or ""), unquote(parts.password or "")
        self.bucket, self.asset_id = Path(bucket).resolve(), None
        self.waiting: dict[int, tuple[float, list[str]]] = {}  # event id: (posted, monotonic), its files
        from pipelines.links.load import batch_files as click_files

        self.clicks_seen = {path.name for path in click_files(self.bucket)}  # URL-3: the links service's batches

    def _call(self, method: str, path: str, body: dict | None = None):
        status, answer = self.api.call(method, path, body)
        if status == 401:  # the token expired: sign in again, once
            self.api.login(self.user, self.password)
            status, answer = self.api.call(method, path, body)
        return status, answer

    def _asset(self) -> int:
        from urllib.parse import quote

        if self.asset_id is None:
            self.api.login(self.user, self.password)
            status, answer = self._call("GET", f"/api/v2/assets?uri_pattern={quote(ASSET_URI, safe='')}")
            assets = answer.get("assets", []) if status == 200 and isinstance(answer, dict) else []
            found = [asset["id"] for asset in assets if str(asset.get("uri", "")).rstrip("/") == ASSET_URI.rstrip("/")]
            if not found:
                raise RuntimeError(f"Airflow has no Asset {ASSET_URI} yet ({status}): is the sms_events DAG parsed?")
            self.asset_id = found[0]
        return self.asset_id

    def _post(self, names: list[str]) -> None:
        import time

        status, answer = self._call("POST", "/api/v2/assets/events",
                                    {"asset_id": self._asset(), "extra": {"files": names}})
        if status not in (200, 201):
            raise RuntimeError(f"Airflow refused the asset event for {names[0]} and {len(names) - 1} more "
                               f"({status}): {answer}")
        self.waiting[answer["id"]] = (time.monotonic(), names)

    def stuck(self) -> list[str]:
        """The files of the events announced at least STUCK_AFTER seconds ago that Airflow gave no run yet (those
        that got one are forgotten)."""
        import time

        if not self.waiting:
            return []
        status, answer = self._call("GET", f"/api/v2/assets/events?asset_id={self._asset()}&order_by=-timestamp"
                                           f"&limit=100")
        if status != 200 or not isinstance(answer, dict):
            return []
        ran = {event["id"] for event in answer.get("asset_events", []) if event.get("created_dagruns")}
        for done in ran & set(self.waiting):
            del self.waiting[done]
        late = [event for event, (posted, _) in self.waiting.items() if time.monotonic() - posted >= self.STUCK_AFTER]
        return [name for event in late for name in self.waiting.pop(event)[1]]

    def __call__(self, files: list[Path]) -> int:
        """The new `files` in one Asset event, and again those of an event stuck without a run; raises (the receiver
        hands the files on again) if Airflow refuses. Returns how many files were announced."""
        from pipelines.links.load import batch_files as click_files

        clicks = [path for path in click_files(self.bucket) if path.name not in self.clicks_seen]
        names = []
        for file in [*files, *clicks]:  # new click batches start a run too (its load takes every new one)
            path = Path(file).resolve()
            names.append(path.relative_to(self.bucket).as_posix() if path.is_relative_to(self.bucket) else str(path))
        names += self.stuck()
        if names:
            self._post(list(dict.fromkeys(names)))
        self.clicks_seen |= {path.name for path in clicks}
        return len(names)


def batch_files(bucket: Path, names: list[str]) -> list[Path] | None:
    """The micro-batch files named in Asset events (relative to the bucket, or absolute), each once; a name with no
    file is refused (a worker that does not see the receiver's bucket must fail, not load nothing), unless the
    receiver has compacted the folder since (pipelines.compaction): then None, the whole folder (idempotent)."""
    from pipelines.compaction import COMPACTED

    bucket = Path(bucket)
    files = list(dict.fromkeys(path if (path := Path(name)).is_absolute() else bucket / path for name in names))
    missing = [file for file in files if not file.is_file()]
    if missing and all(file.parent.is_dir() and any(file.parent.glob(f"{COMPACTED}*.parquet")) for file in missing):
        log.info("%d announced micro-batch(es) compacted since: the whole events folder is loaded [PLUS-4]",
                 len(missing))
        return None
    if missing:
        missing = [str(file) for file in missing]
        raise FileNotFoundError(f"{len(missing)} announced micro-batch file(s) not found, e.g. {missing[0]}: is "
                                f"SMSFLOW_BUCKET the bucket the receiver writes to? [PLUS-4]")
    return files
