"""Object storage for pipelines (issue 13): fsspec + s3fs against obstore, on a real moto_server, in one run.

    .venv/bin/python bench/storage.py [--mb 100] [--keys 10000] [--rounds 3] [--plan-rows 1000000]

Starts moto_server on 127.0.0.1 (tests/s3.py), puts a --mb MB CSV (a CRM export: ~37 bytes a row) and --keys
small objects under one prefix (boto3, 16 threads), then, alternating the two libraries --rounds times: reads the
CSV whole as a stream (8 MiB blocks, nothing kept), reads its first 64 KiB (a header check), and lists the
prefix. Prints wall time, this process's CPU time (all its threads) and moto_server's CPU time for each, best of
the rounds, and obstore's figures as a ratio of s3fs's. Then the plan of a --plan-rows list (pipelines.plan)
from disk and from S3 (staged by pipelines.storage), alternating, and the staging alone: what s3:// costs a plan. moto_server is one Python process on the same 2 cores:
it bounds both clients, so the client CPU time is the figure that tells them apart. Never asserts.

obstore is the project's (pyproject.toml); s3fs, the baseline, is not installed with it: add it for a run with
`.tools/bin/uv pip install --python .venv/bin/python s3fs==<fsspec's version>` (without it, obstore alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from s3 import REGION, aws_environment, create_bucket, moto_server  # noqa: E402

BLOCK = 8 << 20
BUCKET = "bench"


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _moto_pid(port: str) -> int:
    """The moto_server listening on `port` (the newest process whose command line names it)."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    for pid in sorted(pids, reverse=True):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"moto_server") for part in command) and port.encode() in command:
            return pid
    raise RuntimeError("moto_server's process not found")


def _csv(path: Path, megabytes: int) -> int:
    """A CRM-like CSV of about `megabytes` MB (Polars, no Python loop over rows); its size in bytes."""
    import polars as pl

    rows = megabytes * 1_000_000 // 37
    frame = pl.DataFrame({"MOBILE": pl.int_range(600_000_000, 600_000_000 + rows, eager=True)}).with_columns(
        ("0" + pl.col("MOBILE").cast(pl.String)).alias("MOBILE"),
        pl.format("Client {}", pl.int_range(pl.len())).alias("Nom"),
        pl.lit("Paris;75001").alias("Ville"),
    )
    frame.write_csv(path, separator=",")
    return path.stat().st_size


def _put(endpoint: str, csv: Path, keys: int) -> None:
    import boto3

    environment = aws_environment(endpoint)
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"])
    client.upload_file(str(csv), BUCKET, "incoming/export.csv")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: client.put_object(Bucket=BUCKET, Key=f"many/{n:06d}.csv", Body=b"MOBILE\n"),
                      range(keys)))


def _s3fs_read() -> int:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    total = 0
    with fs.open(f"{BUCKET}/incoming/export.csv", "rb", block_size=BLOCK, cache_type="none") as stream:
        while block := stream.read(BLOCK):
            total += len(block)
    return total


def _s3fs_head() -> int:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    return len(fs.cat_file(f"{BUCKET}/incoming/export.csv", start=0, end=1 << 16))


def _s3fs_list() -> int:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    return len(fs.find(f"{BUCKET}/many/"))


def _obstore() -> object:
    from obstore.store import S3Store

    return S3Store(BUCKET, client_options={"allow_http": True})  # endpoint, keys and region from the environment


def _obstore_read() -> int:
    import obstore

    total = 0
    for block in obstore.get(_obstore(), "incoming/export.csv").stream(min_chunk_size=BLOCK):
        total += len(block)
    return total


def _obstore_head() -> int:
    import obstore

    return len(obstore.get_range(_obstore(), "incoming/export.csv", start=0, length=1 << 16))


def _obstore_list() -> int:
    import obstore

    return sum(len(batch) for batch in obstore.list(_obstore(), "many/", chunk_size=1000))


CASES = {"read": (_s3fs_read, _obstore_read), "head": (_s3fs_head, _obstore_head),
         "list": (_s3fs_list, _obstore_list)}


def _measure(function, moto: int) -> tuple[float, float, float, int]:
    moto_before, cpu, start = _cpu_of(moto), time.process_time(), time.perf_counter()
    result = function()
    return time.perf_counter() - start, time.process_time() - cpu, _cpu_of(moto) - moto_before, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plan-rows", type=int, default=1_000_000, help="0: no plan figures")
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with TemporaryDirectory() as folder, moto_server(Path(folder) / "moto.log") as endpoint:
        os.environ.update(aws_environment(endpoint))
        moto = _moto_pid(endpoint.rsplit(":", 1)[1])
        create_bucket(endpoint, BUCKET)
        size = _csv(Path(folder) / "export.csv", options.mb)
        start = time.perf_counter()
        _put(endpoint, Path(folder) / "export.csv", options.keys)
        print(f"put: {size / 1e6:.1f} MB CSV + {options.keys:,} keys in {time.perf_counter() - start:.1f} s")
        try:
            import s3fs  # noqa: F401
            libraries = ("s3fs", "obstore")
        except ImportError:
            print("s3fs is not installed: obstore alone (see the docstring for the baseline)")
            libraries = ("obstore",)
        best: dict[tuple[str, str], tuple[float, float, float]] = {}
        for _ in range(options.rounds):
            for case, functions in CASES.items():
                for library, function in zip(("s3fs", "obstore"), functions):
                    if library not in libraries:
                        continue
                    wall, cpu, moto_cpu, result = _measure(function, moto)
                    expected = {"read": size, "head": min(size, 1 << 16), "list": options.keys}[case]
                    assert result == expected, (library, case, result, expected)
                    previous = best.get((case, library))
                    best[(case, library)] = (wall, cpu, moto_cpu) if previous is None or cpu < previous[1] \
                        else previous
        print(f"{'case':<28}{'library':<10}{'wall s':>9}{'client CPU s':>14}{'moto CPU s':>12}")
        labels = {"read": f"read {size / 1e6:.0f} MB (stream)", "head": "first 64 KiB",
                  "list": f"list {options.keys:,} keys"}
        for case in CASES:
            for library in libraries:
                wall, cpu, moto_cpu = best[(case, library)]
                print(f"{labels[case]:<28}{library:<10}{wall:>9.3f}{cpu:>14.3f}{moto_cpu:>12.2f}")
            if len(libraries) == 1:
                continue
            base, other = best[(case, "s3fs")], best[(case, "obstore")]
            print(f"{'':<28}{'ratio':<10}{other[0] / base[0]:>9.2f}{other[1] / max(base[1], 1e-6):>14.2f}"
                  f"{other[2] / max(base[2], 1e-6):>12.2f}   (obstore / s3fs)")
        if options.plan_rows:
            _plan_figures(Path(folder), options.plan_rows, options.rounds, moto)
    print(f"load average after: {os.getloadavg()}")


def _plan_figures(folder: Path, rows: int, rounds: int, moto: int) -> None:
    """A plan from a list on disk against the same list on S3, same run; and the list's staging alone."""
    import polars as pl
    import yaml

    from pipelines import storage
    from pipelines.plan import plan_file

    listing = folder / "plan" / "vip.csv"
    listing.parent.mkdir()
    pl.DataFrame({"Mobile": pl.int_range(0, rows, eager=True)}).select(
        pl.format("06{}", (pl.col("Mobile") + 10_000_000).cast(pl.String)).alias("Mobile"),
        pl.format("Client {}", pl.col("Mobile")).alias("Prénom")).write_csv(listing, separator=";")
    storage.upload(listing, f"s3://{BUCKET}/incoming/vip.csv")
    specs = {}
    for where, location in (("disk", str(listing)), ("s3", f"s3://{BUCKET}/incoming/vip.csv")):
        specs[where] = folder / "plan" / f"{where}.yaml"
        specs[where].write_text(yaml.safe_dump({"name": "Bench", "type": "notification", "lists": [location],
                                                "message": "Bonjour ${Prénom}"}, allow_unicode=True))
    best: dict[str, tuple[float, float, float]] = {}
    cases = {"plan, list on disk": lambda: plan_file(specs["disk"], folder / "plan" / "out-disk"),
             "plan, list on S3": lambda: plan_file(specs["s3"], folder / "plan" / "out-s3"),
             "staging alone": lambda: storage.local_copy(f"s3://{BUCKET}/incoming/vip.csv", folder / "staged")}
    for _ in range(rounds):
        for case, function in cases.items():
            wall, cpu, moto_cpu, _result = _measure(function, moto)
            if case not in best or cpu < best[case][1]:
                best[case] = (wall, cpu, moto_cpu)
    print(f"\n{rows:,}-row list ({listing.stat().st_size / 1e6:.1f} MB), best of {rounds}:")
    print(f"{'case':<28}{'':<10}{'wall s':>9}{'client CPU s':>14}{'moto CPU s':>12}")
    for case, (wall, cpu, moto_cpu) in best.items():
        print(f"{case:<28}{'':<10}{wall:>9.3f}{cpu:>14.3f}{moto_cpu:>12.2f}")
    disk, s3 = best["plan, list on disk"], best["plan, list on S3"]
    print(f"{'':<28}{'ratio':<10}{s3[0] / disk[0]:>9.2f}{s3[1] / disk[1]:>14.2f}   (S3 / disk)")


if __name__ == "__main__":
    main()
