"""Short-link service benchmark (issue 12, URL-3): `smsflow links serve` against FastAPI + a SQLite lookup per
request, measured in one run with the same client and the same tokens.

    .venv/bin/python bench/links.py --links 10000000 [--seconds 15] [--connections 16] [--out bench/out]

Synthesises, with NumPy/Polars (no Python loop over rows), --links live links over --campaigns plans in a bucket
(links.parquet in the plan's contract, random 11-character tokens, personalised targets and previews). Then, for
each server — `links` (smsflow links serve on granian through RSGI: its default), `links-asgi` (the same app
through granian's ASGI), `links-uvicorn` (the same through ASGI on uvicorn), `starlette` (on request: the same
index and click log behind Starlette's router on uvicorn, for the choice of no framework) and `baseline` (FastAPI
on uvicorn, one SQLite `SELECT target` per request, the tokens in a WITHOUT ROWID table) — one worker pinned to
core 0 (taskset; granian's supervisor and worker both), a keep-alive HTTP/1.1 load generator (asyncio + uvloop,
raw sockets, no HTTP library) pinned to the other cores (and `floor`, `floor-granian`, `floor-rsgi`: a bare 302
on uvicorn, on granian's ASGI, on granian's RSGI: what each server alone costs), random tokens as a person's
browser: prints requests/s, p50/p99 latency, the load generator's CPU use (near 100 % of its core, it sets the
pace), the server's CPU use (its process tree) and RSS (its largest process: anonymous and file-backed), and for
the links servers the click events counted after the run against the 302s answered (goal: 0 lost). Goals:
≥ 15,000 redirects/s, p99 ≤ 5 ms, ≥ 4x the baseline, 0 lost. Never asserts: figures are for people to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
DOMAIN = "clic.fr"  # 7 + "/" + 11 = 19 (URL-1)
BROWSER = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
           "Mobile Safari/537.36")
SAMPLE = 200_000  # tokens the clients draw from (random over all campaigns)
LINKS = ("links", "links-asgi", "links-uvicorn")  # smsflow links serve: granian RSGI, granian ASGI, uvicorn ASGI


# --- the bucket ------------------------------------------------------------------------------------------------

def random_tokens(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random 11-character tokens over [0-9A-Za-z] as an S11 array (a bench needs no CSPRNG)."""
    return ALPHABET[rng.integers(0, 62, size=(count, 11), dtype=np.uint8)].view("S11").ravel()


def synthesise(bucket: Path, links: int, campaigns: int, seed: int = 12) -> np.ndarray:
    """Plans of `links` links over `campaigns` campaigns; returns a random sample of their tokens."""
    rng = np.random.default_rng(seed)
    per = -(-links // campaigns)
    samples = []
    for number in range(campaigns):
        count = min(per, links - number * per)
        tokens = np.unique(random_tokens(count, rng))  # sorted and unique; 62^11 makes repeats near impossible
        frame = (pl.DataFrame({"token": pl.Series(tokens).cast(pl.String)})
                 .with_row_index("row", offset=1)
                 .select("token", (pl.lit(DOMAIN + "/") + pl.col("token")).alias("short_url"),
                         pl.lit(f"crm-{number}.csv").alias("ref_list"),
                         ((pl.col("row") + 1) // 2).cast(pl.Int64).alias("id_line"),
                         (2 - pl.col("row") % 2).cast(pl.Int32).alias("link"),
                         (pl.lit("https://www.monsite.com/soldes?id=") + pl.col("row").cast(pl.String)
                          + pl.lit("&utm_source=sms")).alias("target"),
                         (pl.lit("Soldes VIP n°") + pl.col("row").cast(pl.String)).alias("title"),
                         (pl.lit("Jusqu'à -50 % pour vous, client ") + pl.col("row").cast(pl.String)
                          + pl.lit(", ce week-end")).alias("description"),
                         pl.lit("preview.jpg").alias("image"),
                         pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("expires_at")))
        plan = bucket / "campaigns" / f"bench-{number:02d}" / "plan"
        plan.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(plan / "links.parquet")
        (plan / ".smsflow-plan").write_text("links.parquet\n")
        samples.append(rng.choice(tokens, size=min(len(tokens), SAMPLE // campaigns + 1), replace=False))
    sample = np.concatenate(samples)
    rng.shuffle(sample)
    return sample


def sqlite_links(bucket: Path, database: Path) -> None:
    """The baseline's store: every link's token and target in a WITHOUT ROWID table (the token is the key)."""
    import sqlite3

    import pyarrow.parquet as pq

    database.unlink(missing_ok=True)
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("CREATE TABLE links (token TEXT PRIMARY KEY, target TEXT NOT NULL) WITHOUT ROWID")
        for path in sorted(bucket.glob("campaigns/*/plan/links.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=500_000, columns=["token", "target"]):
                connection.executemany("INSERT INTO links VALUES (?, ?)",
                                       zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()))


# --- the servers -----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(kind: str, bucket: Path, database: Path, port: int, log: Path) -> tuple[subprocess.Popen, float]:
    from pipelines.links import serve  # granian's settings (SMSFLOW_GRANIAN_*), the floors' as the links'

    env = {**os.environ, "SMSFLOW_BUCKET": str(bucket), "BENCH_SQLITE": str(database)}
    if kind in LINKS:
        env["SMSFLOW_GRANIAN_INTERFACE"] = "asgi" if kind == "links-asgi" else "rsgi"
        command = [str(ROOT / ".venv/bin/smsflow"), "links", "serve", "--bucket", str(bucket), "--port", str(port),
                   "--server", "uvicorn" if kind == "links-uvicorn" else "granian"]
    elif kind in ("floor-granian", "floor-rsgi"):
        factory = "links_servers:floor_app" if kind == "floor-granian" else "links_servers:floor_rsgi_app"
        command = [sys.executable, "-m", "granian", "--interface", "asgi" if kind == "floor-granian" else "rsgi",
                   "--factory", "--working-dir", str(ROOT / "bench"), "--port", str(port), "--loop", "uvloop",
                   "--http", "1", "--no-ws", "--log-level", "warning", "--runtime-mode", serve.GRANIAN_RUNTIME_MODE,
                   "--backpressure", str(serve.GRANIAN_BACKPRESSURE), "--task-impl", serve.GRANIAN_TASK_IMPL,
                   factory]  # as smsflow links serve
    else:
        factory = f"links_servers:{kind}_app"  # starlette_app, baseline_app, floor_app
        command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(ROOT / "bench"),
                   "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                   "--log-level", "warning"]
    started = time.monotonic()
    process = subprocess.Popen(["taskset", "-c", "0", *command], env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{kind} server exited: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n")
                if probe.recv(64):
                    return process, time.monotonic() - started
        except OSError:
            time.sleep(0.2)


def tree(pid: int) -> list[int]:
    """The process and its descendants (granian serves from worker processes under its supervisor)."""
    pids, at = [pid], 0
    while at < len(pids):
        for task in Path(f"/proc/{pids[at]}/task").glob("*/children"):
            try:
                pids += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
        at += 1
    return pids


def memory(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of the process of the tree with the largest RSS (the serving worker), in MB."""
    return max((_memory(one) for one in tree(pid)), key=lambda fields: fields.get("VmRSS", 0))


def _memory(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the process and its descendants, alive now."""
    ticks = 0
    for one in tree(pid):
        try:
            stat = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(stat[11]) + int(stat[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the load generator (a separate process) -------------------------------------------------------------------

class _Connection(asyncio.Protocol):
    """One keep-alive connection sending requests one after another and timing each."""

    def __init__(self, run):
        self.run, self.buffer, self.sent_at = run, b"", 0

    def connection_made(self, transport):
        self.transport = transport
        self.send()

    def send(self):
        run = self.run
        if time.monotonic() >= run["until"]:
            self.transport.close()
            return
        token = run["tokens"][run["next"] % len(run["tokens"])]
        run["next"] += 1
        self.sent_at = time.perf_counter_ns()
        self.transport.write(b"GET /" + token + b" HTTP/1.1\r\nHost: " + DOMAIN.encode() + b"\r\nUser-Agent: "
                             + BROWSER.encode() + b"\r\n\r\n")

    def data_received(self, data):
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length:]
        run = self.run
        if time.monotonic() >= run["measure_from"]:
            run["latencies"].append(time.perf_counter_ns() - self.sent_at)
        status = head[9:12].decode()
        run["status"][status] = run["status"].get(status, 0) + 1
        self.send()

    def connection_lost(self, exc):
        self.run["open"] -= 1
        if self.run["open"] == 0:
            self.run["done"].set_result(None)


async def _load(port: int, tokens: list[bytes], connections: int, warmup: float, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    now, cpu_from = time.monotonic(), time.process_time()
    run = {"tokens": tokens, "next": 0, "latencies": [], "status": {}, "open": connections,
           "done": loop.create_future(), "measure_from": now + warmup, "until": now + warmup + seconds}
    for _ in range(connections):
        await loop.create_connection(lambda: _Connection(run), "127.0.0.1", port)
    await run["done"]
    latencies = np.array(run["latencies"], dtype=np.int64) / 1e6
    return {"measured": len(latencies), "seconds": seconds, "status": run["status"],
            "cpu_s": time.process_time() - cpu_from,
            "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else None,
            "p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else None}


def client_main(port: int, tokens_file: Path, connections: int, warmup: float, seconds: float, part: int) -> None:
    import uvloop

    tokens = tokens_file.read_bytes().split(b"\n")
    tokens = tokens[part::3] + tokens  # each client its own order
    print(json.dumps(uvloop.run(_load(port, tokens, connections, warmup, seconds))))


def load(port: int, tokens_file: Path, connections: int, warmup: float, seconds: float, clients: int) -> dict:
    """`clients` load-generator processes pinned to the cores the server does not use; their figures merged."""
    cores = ",".join(str(core) for core in range(1, max(2, os.cpu_count() or 2)))
    processes = [subprocess.Popen(["taskset", "-c", cores, sys.executable, __file__, "--client", str(port),
                                   str(tokens_file), str(connections // clients), str(warmup), str(seconds),
                                   str(part)], stdout=subprocess.PIPE, text=True) for part in range(clients)]
    results = [json.loads(process.communicate()[0]) for process in processes]
    status: dict[str, int] = {}
    for result in results:
        for code, count in result["status"].items():
            status[code] = status.get(code, 0) + count
    measured = sum(result["measured"] for result in results)
    answered = sum(status.values())
    # the load generator's own CPU time an answer: at ~100 % of its core it, not the server, sets the pace
    return {"rps": measured / seconds, "status": status,
            "client_us": sum(result["cpu_s"] for result in results) / max(1, answered) * 1e6,
            "client_cpu": sum(result["cpu_s"] for result in results) / (seconds + warmup),
            "p50_ms": max(result["p50_ms"] or 0 for result in results),
            "p99_ms": max(result["p99_ms"] or 0 for result in results)}


# --- the run ---------------------------------------------------------------------------------------------------

def measure(kind: str, bucket: Path, database: Path, tokens_file: Path, args, out: Path) -> dict:
    port = free_port()
    process, startup = start_server(kind, bucket, database, port, out / f"{kind}.log")
    try:
        rss_ready = memory(process.pid)
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        result = load(port, tokens_file, args.connections, args.warmup, args.seconds, args.clients)
        cpu_used = cpu_seconds(process.pid) - cpu_before
        cpu = cpu_used / (time.monotonic() - wall_before)
        # the server's CPU time per answer (warm-up included on both sides): what one core it had to itself
        # would serve, whatever other work took from it on a shared machine
        result["cpu_us"] = cpu_used / max(1, sum(result["status"].values())) * 1e6
        rss_after = memory(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    result.update(startup_s=startup, cpu=cpu, rss_ready=rss_ready, rss_after=rss_after)
    if kind in (*LINKS, "starlette"):
        from pipelines.links.clicks import log_folder, read_clicks, roll

        roll(bucket)
        events = read_clicks(bucket)
        left = sum(path.read_bytes().count(b"\n") for path in log_folder(bucket).glob("*.jsonl*"))
        result["events"] = events.filter(pl.col("kind") == "click").height + left
        shutil.rmtree(bucket / "events" / "links", ignore_errors=True)
    return result


def report(kind: str, result: dict, baseline: dict | None) -> str:
    redirects = result["status"].get("302", 0)
    line = (f"{kind:<13} {result['rps']:>9,.0f} req/s  p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  "
            f"client CPU {result['client_cpu']:.0%} ({result['client_us']:.0f} µs a request)  "
            f"server CPU {result['cpu']:.0%}, {result['cpu_us']:.0f} µs a request (one whole core: "
            f"{1e6 / result['cpu_us']:,.0f} req/s)  RSS {result['rss_after'].get('VmRSS', 0):,} MB (anon "
            f"{result['rss_after'].get('RssAnon', 0):,}, file {result['rss_after'].get('RssFile', 0):,}; at ready "
            f"{result['rss_ready'].get('VmRSS', 0):,})  ready in {result['startup_s']:.1f} s  statuses "
            f"{dict(sorted(result['status'].items()))}")
    if baseline:
        line += (f"  x{result['rps'] / baseline['rps']:.1f} baseline (by CPU time a request: "
                 f"x{baseline['cpu_us'] / result['cpu_us']:.1f})")
    if "events" in result:
        lost = redirects - result["events"]
        line += f"  click events {result['events']:,} for {redirects:,} redirects (lost {lost:,})"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--links", type=int, default=10_000_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over the servers (goals: medians)")
    parser.add_argument("--servers",
                        default="links,links-asgi,links-uvicorn,baseline,floor,floor-granian,floor-rsgi",
                        help="links: smsflow links serve on granian through RSGI (its default), links-asgi: on "
                             "granian through ASGI, links-uvicorn: on uvicorn, "
                             "starlette: the links behind Starlette on uvicorn; floor, floor-granian, floor-rsgi: a "
                             "bare 302 on uvicorn, on granian (ASGI), on granian (RSGI): what the server alone costs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "links")
    parser.add_argument("--client", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        port, tokens_file, connections, warmup, seconds, part = args.client
        return client_main(int(port), Path(tokens_file), int(connections), float(warmup), float(seconds), int(part))
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    bucket, database, tokens_file = out / "bucket", out / "links.sqlite", out / "tokens.txt"
    started = time.monotonic()
    sample = synthesise(bucket, args.links, args.campaigns)
    tokens_file.write_bytes(b"\n".join(sample.tolist()))
    print(f"{args.links:,} links in {args.campaigns} plans synthesised in {time.monotonic() - started:.1f} s; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other work shares them); server on core "
          f"0, {args.clients} client process(es) with {args.connections} keep-alive connections on the others, "
          f"{args.warmup:g} s warm-up then {args.seconds:g} s measured", flush=True)
    kinds = args.servers.split(",")
    if "baseline" in kinds:
        started = time.monotonic()
        sqlite_links(bucket, database)
        print(f"baseline SQLite store built in {time.monotonic() - started:.1f} s", flush=True)
    order = ["baseline", *[k for k in kinds if k != "baseline"]] if "baseline" in kinds else kinds
    runs: dict[str, list[dict]] = {kind: [] for kind in order}
    for _ in range(args.repeat):  # rounds over every server: on a shared machine, each round meets other work
        for kind in order:
            runs[kind].append(measure(kind, bucket, database, tokens_file, args, out))
            print(report(kind, runs[kind][-1], runs["baseline"][-1] if "baseline" in runs and kind != "baseline"
                         else None), flush=True)
    if runs.get("links"):
        print(goals(runs, args.repeat))


def goals(runs: dict[str, list[dict]], rounds: int) -> str:
    """The issue's goals, from the medians over the rounds (CPU time a request: what one core would serve)."""
    def median(kind: str, name: str) -> float:
        return float(np.median([result[name] for result in runs[kind]]))

    links = runs["links"]
    cpu_us = median("links", "cpu_us")
    floors = ", ".join(f"{kind} {median(kind, 'cpu_us'):.1f} µs" for kind in runs if kind.startswith("floor"))
    ratio = (f"x{median('links', 'rps') / median('baseline', 'rps'):.1f} by requests/s, "
             f"x{median('baseline', 'cpu_us') / cpu_us:.1f} by CPU time a request ({median('baseline', 'cpu_us'):.0f} "
             f"µs)" if "baseline" in runs else "no baseline run")
    lost = sum(result["status"].get("302", 0) - result.get("events", 0) for result in links)
    return (f"goals (medians of {rounds} round(s), load average {os.getloadavg()[0]:.1f}): >= 15,000 redirects/s: "
            f"{median('links', 'rps'):,.0f} measured, {1e6 / cpu_us:,.0f} by CPU time a request ({cpu_us:.1f} µs; "
            f"floors: {floors or 'not run'}); p99 <= 5 ms: {median('links', 'p99_ms'):.2f} ms; >= 4x baseline: "
            f"{ratio}; 0 lost click events: {lost}; <= 1 GB RSS: "
            f"{max(result['rss_after'].get('VmRSS', 0) for result in links):,} MB")


if __name__ == "__main__":
    main()
