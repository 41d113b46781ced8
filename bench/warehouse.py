"""Warehouse benchmark (issue 11, part 3): the lake against today's single DuckDB file, measured in one run.

    .venv/bin/python bench/warehouse.py --recipients 10000000 [--repeat 2] [--out bench/out]

Generates, with Polars expressions (no Python loop over rows), one synthetic campaign of N recipients laid out as
smsflow writes it: plan/recipients.parquet in the plan's column layout (from a real plan of a tiny list; ~5 %
invalid numbers, ~2 % duplicates, one message in five of two parts), plan/summary.json, the send ledger
(dispatch/ledger, one accepted or refused record per part), receipts (DELIVRD, UNDELIV, EXPIRED; ~3 % of parts
without one) and replies (events Parquet). Then, for each target, prints beside its goal:
  - load time: load_plan + load_dispatch of the campaign;
  - `smsflow stats` latency: pipelines.report.campaign_stats (goal ≤ 1 s over 10M messages);
  - REP-2 CSV export rate: pipelines.report.export_csv (goal ≥ 1M rows/s); on the lake it joins the statuses to
    the cells stored at plan load, on the file (its copy of the old schema has none) it formats the rows' own columns;
  - the message_status view over the campaign, fetched whole (goal ≤ 2 s);
  - an analyst's query (a new read-only connection, a GROUP BY over the campaign's rows) idle, and while three
    other processes load three campaigns (--load-recipients each, a tenth of N by default; goal: median within
    2x of idle). The lake's loads run as pipelines.warehouse runs them, at a lower CPU priority (SMSFLOW_LOAD_NICE,
    default 10; SMSFLOW_LOAD_NICE=0 measures them at the analyst's); the file's, as they always ran.
Beside each wall time, the CPU time the step took in this process (every thread's): other work on a shared machine
inflates wall times, much less CPU times; the load average is printed with each step.
Targets: `file`, the single DuckDB file smsflow had before the lake, every status derived when read (the same
functions and SQL, pointed at a .duckdb file, without the `messages` table the loads now write: self-contained
below), and `lake`, pipelines.warehouse as it stands, measured once it is a DuckLake (pipelines/lake.py exists).
`s3` (issue 13) is the lake with its data files on S3: a moto_server started here (tests/s3.py), the catalog still
a local SQLite file, DATA_PATH s3://…/ through DuckDB's httpfs (pipelines.lake_data, SMSFLOW_WAREHOUSE_DATA);
moto_server is one Python process on the same cores, so its figures are an upper bound of what S3 costs.
With two targets, the last column is the ratio of the second to the first (lake/file by default).
Never asserts: figures are for people to read.

    .venv/bin/python bench/warehouse.py --recipients 1000000 --targets lake,s3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from warehouse_campaign import CAMPAIGN, synthetic_campaign  # noqa: E402 - after sys.path

ANALYST = ("SELECT mf_country, coalesce(status_code, 0) AS status_code, count(*) AS recipients, sum(parts) AS credits "
           "FROM plan_recipients WHERE campaign_id = $campaign_id GROUP BY ALL ORDER BY ALL")


# --- the targets -----------------------------------------------------------------------------------------------

# Today's single-file warehouse (sql/schema.sql, plan.sql and load.sql as of commit e6c544f), copied so the baseline
# stays what it was while pipelines.warehouse becomes a lake. The status rules and views, and the report's queries,
# are the project's own (pipelines.queries), the same on both targets.
FILE_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan_recipients (
    campaign_id VARCHAR NOT NULL, ref_list VARCHAR NOT NULL, id_line BIGINT NOT NULL, mobile_raw VARCHAR,
    int_mobile VARCHAR, mf_valid BOOLEAN NOT NULL, mf_allow BOOLEAN NOT NULL, mf_country VARCHAR,
    status_code INTEGER, status_text VARCHAR, message VARCHAR, encoding VARCHAR, parts INTEGER NOT NULL,
    fields JSON, loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (campaign_id, ref_list, id_line));
CREATE TABLE IF NOT EXISTS plan_summaries (
    campaign_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, type VARCHAR NOT NULL, rows BIGINT NOT NULL,
    sendable BIGINT NOT NULL, credits BIGINT NOT NULL, summary JSON NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS parts (
    campaign_id VARCHAR NOT NULL, part_key VARCHAR NOT NULL, ref_list VARCHAR, id_line BIGINT,
    part INTEGER NOT NULL, outcome VARCHAR NOT NULL, submit_status INTEGER, message_id VARCHAR, id_text VARCHAR,
    id_dec BIGINT, id_hex BIGINT, submitted_at TIMESTAMPTZ, resent BOOLEAN DEFAULT false,
    PRIMARY KEY (campaign_id, part_key));
CREATE TABLE IF NOT EXISTS events (
    campaign_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, received_at TIMESTAMPTZ NOT NULL, message_id VARCHAR,
    id_text VARCHAR, id_dec BIGINT, id_hex BIGINT, stat VARCHAR, err VARCHAR, handset VARCHAR, service VARCHAR,
    text VARCHAR);
CREATE TABLE IF NOT EXISTS blacklists (
    account_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, int_mobile VARCHAR NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp, PRIMARY KEY (account_id, kind, int_mobile));
"""
_PLAN_COLUMNS = ("REF_LIST, ID_LINE, MOBILE_RAW, INT_MOBILE, MF_VALID, MF_ALLOW, MF_COUNTRY, STATUS_CODE, STATUS_TEXT, "
                 "MESSAGE, ENCODING, PARTS")
FILE_LOAD = {
    "delete_plan": "DELETE FROM plan_recipients WHERE campaign_id = $campaign_id",
    "insert_plan": f"INSERT INTO plan_recipients SELECT $campaign_id, {_PLAN_COLUMNS}, "
                   f"to_json(struct_pack(*COLUMNS(* EXCLUDE ({_PLAN_COLUMNS})))), current_timestamp "
                   "FROM read_parquet($recipients_path)",
    "upsert_summary": "INSERT OR REPLACE INTO plan_summaries VALUES ($campaign_id, $name, $type, $rows, $sendable, "
                      "$credits, $summary, current_timestamp)",
    "delete_parts": "DELETE FROM parts WHERE campaign_id = $campaign_id",
    "insert_parts": "INSERT INTO parts SELECT $campaign_id, part_key, ref_list, id_line, part, outcome, submit_status, "
                    "message_id, id_text, id_dec, id_hex, submitted_at, resent FROM ledger_frame",
    "delete_events": "DELETE FROM events WHERE campaign_id = $campaign_id",
    "insert_events": "INSERT INTO events SELECT $campaign_id, kind, received_at, message_id, id_text, id_dec, id_hex, "
                     "stat, err, handset, service, text FROM events_frame",
}


@contextmanager
def file_connections(database: Path):
    """Today's warehouse, self-contained: one DuckDB file, the schema, status rules and views of sql/*.sql created
    on each write connection, a second process waiting for the file's lock (REP-3). pipelines.report's functions
    run on it unchanged, their `connect` pointed at this file."""
    from unittest import mock

    import pipelines.report

    def connect(_database, read_only: bool = False, **_):
        import duckdb

        from pipelines.queries import install_link_views, install_rules, queries

        deadline, pause = time.monotonic() + 600, 0.05
        while True:
            try:
                connection = duckdb.connect(str(database), read_only=read_only)
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
        if not read_only:
            connection.execute(FILE_SCHEMA)
            install_rules(connection)
            status = queries("status.sql")  # today's views: every status derived when read
            for name in ("warehouse_clock", "create_views", "memory_messages", "create_count_views", "memory_counts",
                         "create_message_views"):
                connection.execute(status[name])
            # The reports read the clicks of tracked links (issue 12): the table, empty here, and its views.
            schema = queries("schema.sql")["create_schema"]
            start = schema.index("CREATE TABLE IF NOT EXISTS clicks")
            connection.execute(schema[start:schema.index(";", start) + 1])
            install_link_views(connection)
        return connection

    with mock.patch.object(pipelines.report, "connect", connect):
        yield connect


def file_load(database: Path, campaign_id: str, root: Path) -> None:
    """Today's load_plan and load_dispatch on one file (the plan's summary row, the plan, parts and events)."""
    from pipelines.dispatch import ledger_state
    from pipelines.dlr import event_rows, part_rows, read_events
    from pipelines.layout import read_summary
    from pipelines.warehouse import record_opt_outs

    plan_dir = root / "plan"
    summary = read_summary(plan_dir)
    with file_connections(database) as connect, connect(database) as connection:
        connection.begin()
        connection.execute(FILE_LOAD["delete_plan"], {"campaign_id": campaign_id})
        connection.execute(FILE_LOAD["insert_plan"], {"campaign_id": campaign_id,
                                                      "recipients_path": str(plan_dir / "recipients.parquet")})
        connection.execute(FILE_LOAD["upsert_summary"], {
            "campaign_id": campaign_id, "name": summary.campaign.name, "type": summary.campaign.type,
            "rows": summary.rows, "sendable": summary.sendable, "credits": summary.credits,
            "summary": json.dumps(summary.model_dump(mode="json"), ensure_ascii=False)})
        connection.commit()
    plan = pl.read_parquet(plan_dir / "recipients.parquet",
                           columns=["REF_LIST", "ID_LINE", "INT_MOBILE", "MESSAGE", "STATUS_CODE"])
    ledger_frame = part_rows(plan, ledger_state(root / "dispatch" / "ledger")).to_arrow()  # noqa: F841 - by name
    events = read_events(root / "dispatch" / "events")
    events_frame = event_rows(events).to_arrow()  # noqa: F841 - read by name in the SQL
    with file_connections(database) as connect, connect(database) as connection:
        connection.begin()
        for name in ("delete_parts", "insert_parts", "delete_events", "insert_events"):
            connection.execute(FILE_LOAD[name], {"campaign_id": campaign_id})
        connection.commit()
    record_opt_outs(database, campaign_id, plan_dir, plan, events, bucket=root.parent.parent)


def lake_ready() -> bool:
    """Whether pipelines.warehouse is a DuckLake yet (H5's pipelines/lake.py, issue 11 part 1)."""
    return (ROOT / "pipelines" / "lake.py").exists()


def lake_load(location: Path, campaign_id: str, root: Path) -> None:
    from pipelines.warehouse import load_dispatch, load_plan

    load_plan(location, campaign_id, root / "plan")
    load_dispatch(location, campaign_id, root / "dispatch" / "ledger", root / "dispatch" / "events",
                  plan_dir=root / "plan")


@contextmanager
def s3_data(folder: Path):
    """A moto_server for the `s3` target, the AWS settings pointing at it (this process and its loaders); yields
    the bucket's URL."""
    sys.path.insert(0, str(ROOT / "tests"))
    from s3 import aws_environment, create_bucket, moto_server

    from pipelines import storage

    with moto_server(folder / "moto_server.log") as endpoint:
        os.environ.update(aws_environment(endpoint))
        storage.forget_clients()
        create_bucket(endpoint, "smsflow-bench")
        yield "s3://smsflow-bench"


class Target:
    """One warehouse under test: `file` (today's single DuckDB file), `lake` (pipelines.warehouse) or `s3` (the
    lake with its data on S3: SMSFLOW_WAREHOUSE_DATA set while it is measured)."""

    def __init__(self, name: str, folder: Path, s3_bucket: str | None = None):
        self.name, self.s3_bucket = name, s3_bucket
        self.location = folder / name / ("warehouse.duckdb" if name == "file" else "warehouse.sqlite")
        self.location.parent.mkdir(parents=True, exist_ok=True)

    def reset(self) -> None:
        shutil.rmtree(self.location.parent)
        self.location.parent.mkdir(parents=True)
        if self.name == "s3":  # a new prefix: a clean lake (the loaders inherit the setting)
            os.environ["SMSFLOW_WAREHOUSE_DATA"] = f"{self.s3_bucket}/warehouse-{uuid.uuid4().hex[:8]}"
        else:
            os.environ.pop("SMSFLOW_WAREHOUSE_DATA", None)

    def load(self, campaign_id: str, root: Path) -> None:
        (file_load if self.name == "file" else lake_load)(self.location, campaign_id, root)

    @contextmanager
    def reading(self):
        """pipelines.report's functions and `connect(read_only=True)` on this target."""
        if self.name == "file":
            with file_connections(self.location) as connect:
                yield lambda: connect(self.location, read_only=True)
        else:
            from pipelines.warehouse import connect

            yield lambda: connect(self.location, read_only=True)


# --- the measures ----------------------------------------------------------------------------------------------

def cpu_seconds() -> float:
    """This process's CPU time so far, every thread's (DuckDB's included): a figure other work on a shared machine
    does not inflate as it does wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def best(repeat: int, run) -> tuple[float, object, float]:
    """(the shortest wall time of `repeat` runs of `run`, its last result, the least CPU time of a run)."""
    times, cpus, result = [], [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), cpu_seconds()
        result = run()
        times.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
    return min(times), result, min(cpus)


def analyst_query(target: Target) -> float:
    """Seconds for an analyst's query on a new read-only connection (opening it included)."""
    start = time.perf_counter()
    with target.reading() as connect, connect() as connection:
        connection.execute(ANALYST, {"campaign_id": CAMPAIGN}).fetchall()
    return time.perf_counter() - start


def under_load(target: Target, root: Path, loaders: int = 3) -> tuple[list[float], int, float, int]:
    """Analyst query latencies while `loaders` processes each load the campaign at `root` under its own id;
    (latencies, how many queries failed, the loaders' wall time, how many loaders failed)."""
    command = [sys.executable, __file__, "--child-load", target.name, str(target.location), str(root)]
    start = time.perf_counter()
    logs = [(root.parent / f"load-{n}.log").open("w+b") for n in range(1, loaders + 1)]  # a pipe could fill up
    children = [subprocess.Popen([*command, f"load-{n}"], stderr=log) for n, log in enumerate(logs, 1)]
    latencies, errors = [], []
    while any(child.poll() is None for child in children) or not (latencies or errors):
        time.sleep(0.1)  # an analyst, not a load generator: the loaders keep the cores
        try:
            latencies.append(analyst_query(target))
        except Exception as error:  # noqa: BLE001 - a query a load broke is a figure here, reported below
            errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")
    if errors:
        print(f"  {target.name}: {len(errors)} analyst queries failed during the loads, e.g. {errors[0]}", flush=True)
    failed = 0
    for child, log in zip(children, logs):
        child.wait()
        log.seek(0)
        if child.returncode:
            failed += 1
            sys.stderr.write(f"{target.name} loader failed ({child.returncode}): {log.read().decode()[-800:]}\n")
        log.close()
    return latencies, len(errors), time.perf_counter() - start, failed


def measure(target: Target, root: Path, loaded: Path, repeat: int, out: Path) -> dict:
    from pipelines.report import campaign_stats, export_csv

    def export() -> int:
        return export_csv(target.location, CAMPAIGN, out / f"{target.name}-report.csv")

    def message_status() -> int:
        with connect() as connection:
            return connection.execute("SELECT * FROM message_status WHERE campaign_id = $campaign_id",
                                      {"campaign_id": CAMPAIGN}).to_arrow_table().num_rows

    def step(name: str, seconds: float, cpu: float) -> None:
        figures[name], figures[f"{name}_cpu"] = seconds, cpu
        print(f"  {target.name}: {name} {seconds:.2f} s (CPU {cpu:.2f} s, load average {os.getloadavg()[0]:.1f})",
              flush=True)

    target.reset()
    figures = {}
    seconds, _, cpu = best(1, lambda: target.load(CAMPAIGN, root))
    step("load", seconds, cpu)
    with target.reading() as connect:
        seconds, _, cpu = best(repeat, lambda: campaign_stats(target.location, CAMPAIGN))
        step("stats", seconds, cpu)
        seconds, rows, cpu = best(repeat, export)
        figures["csv"], figures["csv_cpu"] = rows / seconds, cpu / rows * 1e6
        print(f"  {target.name}: csv {rows / seconds:,.0f} rows/s ({seconds:.2f} s, CPU {cpu:.2f} s, load average "
              f"{os.getloadavg()[0]:.1f})", flush=True)
        seconds, _, cpu = best(repeat, message_status)
        step("status", seconds, cpu)
        figures["status_rows"] = message_status()
    idle = [analyst_query(target) for _ in range(max(3, repeat))]
    busy, query_errors, loaders_wall, failed = under_load(target, loaded)
    figures.update(idle=statistics.median(idle), busy=statistics.median(busy) if busy else float("nan"),
                   busy_max=max(busy, default=float("nan")), busy_queries=len(busy) + query_errors,
                   query_errors=query_errors, loaders=loaders_wall, failed=failed)
    return figures


# --- the table -------------------------------------------------------------------------------------------------

ROWS = [  # (key, label, goal, format, whether the ratio lake/file is shown)
    ("load", "load: plan + dispatch (s)", "", "{:.2f}", True),
    ("load_cpu", "  its CPU time in this process (s)", "", "{:.2f}", True),
    ("stats", "smsflow stats latency (s)", "≤ 1 s at 10M", "{:.2f}", True),
    ("stats_cpu", "  its CPU time (s)", "", "{:.2f}", True),
    ("csv", "REP-2 CSV export (rows/s)", "≥ 1M rows/s", "{:,.0f}", True),
    ("csv_cpu", "  its CPU time per million rows (s)", "", "{:.2f}", True),
    ("status", "message_status, one campaign (s)", "≤ 2 s", "{:.2f}", True),
    ("status_cpu", "  its CPU time (s)", "", "{:.2f}", True),
    ("idle", "analyst query, idle (s)", "", "{:.3f}", True),
    ("busy", "analyst query, 3 loads running: median (s)", "≤ 2x idle", "{:.3f}", True),
    ("busy_max", "  the same: slowest (s)", "", "{:.3f}", True),
    ("busy_ratio", "  median under load / idle", "≤ 2", "{:.1f}x", True),
    ("busy_queries", "  analyst queries run during the loads", "", "{}", False),
    ("query_errors", "  of which failed", "0", "{}", False),
    ("loaders", "the 3 loads, wall (s)", "", "{:.2f}", True),
    ("failed", "loads failed", "0", "{}", False),
]


def table(recipients: int, messages: int, load_recipients: int, results: dict[str, dict]) -> str:
    for figures in results.values():
        figures["busy_ratio"] = figures["busy"] / figures["idle"]
    names = list(results)
    pair = f"{names[-1]}/{names[0]}" if len(names) == 2 else ""
    lines = [f"\nwarehouse, {recipients:,} recipients, {messages:,} messages (status rows), "
             f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}: other work shares them); best of the "
             f"runs, in-process; the 3 loads: {load_recipients:,} recipients each",
             f"{'':44}" + "".join(f"{name:>14}" for name in names) + f"{'goal':>15}"
             + f"{pair:>12}"]
    for key, label, goal, form, with_ratio in ROWS:
        cells = "".join(f"{form.format(results[name][key]):>14}" for name in names)
        ratio = ""
        if with_ratio and len(names) == 2 and results[names[0]][key]:
            ratio = f"{results[names[1]][key] / results[names[0]][key]:>12.2f}"
        lines.append(f"{label:44}{cells}{goal:>15}{ratio}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=10_000_000)
    parser.add_argument("--load-recipients", type=int, help="recipients of each of the three campaigns loaded "
                        "while the analyst queries (default: a tenth of --recipients)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each query; the best is shown")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--targets", default="file,lake", help="file, lake, s3 (the lake's data on a moto S3), "
                        "comma-separated")
    parser.add_argument("--child-load", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_load:
        name, location, root, campaign_id = args.child_load  # `s3`: SMSFLOW_WAREHOUSE_DATA and AWS_* inherited
        (file_load if name == "file" else lake_load)(Path(location), campaign_id, Path(root))
        return

    folder = (args.out / f"warehouse-{args.recipients}").resolve()
    start = time.perf_counter()
    root = synthetic_campaign(folder, args.recipients)
    load_recipients = args.load_recipients or max(args.recipients // 10, 1000)
    loaded = synthetic_campaign(folder, load_recipients, "loaded")
    print(f"campaign of {args.recipients:,} recipients in {root}, and one of {load_recipients:,} that three "
          f"processes load at once ({time.perf_counter() - start:.1f} s)", flush=True)
    names = [name for name in args.targets.split(",") if name == "file" or lake_ready()]
    if "lake" in args.targets and "lake" not in names:
        print("lake: pipelines.warehouse is not a DuckLake yet (no pipelines/lake.py): the file alone is measured")
    results = {}
    with ExitStack() as stack:
        bucket = stack.enter_context(s3_data(folder)) if "s3" in names else None
        for name in names:
            print(f"measuring {name} …", flush=True)
            results[name] = measure(Target(name, folder, bucket), root, loaded, args.repeat, folder / "csv")
    print(table(args.recipients, results[names[0]]["status_rows"], load_recipients, results))


if __name__ == "__main__":
    main()
