"""Tracked links at plan time (URL-1, URL-2, URL-5): what tracking adds to `smsflow plan`, measured in one run.

    .venv/bin/python bench/links_plan.py --rows 1000000 [--repeat 3]

Generates a realistic list (`smsflow sample`), then plans the same message with two URLs — one personalised with
fields that need percent-encoding (`?ville=${Ville}&cp=${CP}`), one fixed — twice, each in its own process so
wall time and peak RSS include imports:
  - baseline: tracking off (the URLs go out as written);
  - same-length: tracking off, each URL written as a fixed text of a short link's 19 characters: the messages the
    tracked plan renders, measures and writes, without tracking's work (tracking makes messages shorter, which
    saves work and hides what tracking costs against the baseline alone);
  - tracked: tracking on, a personalised preview title: two tokens per sendable recipient, links.parquet written.
Runs alternate (baseline, tracked, baseline, …) so other work on the machine weighs on both alike; the medians
are compared, of wall time and of CPU time (all threads: it moves less when other work shares the cores).
Goal (issue 12): tracking adds ≤ 1.5 s for 1M recipients × 2 links. Prints figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


MESSAGE = ("${Prénom}, -20 % a ${Ville}: https://www.maboutique.fr/soldes-ete?magasin=${Ville}&cp=${CP}. "
           "Compte: https://www.maboutique.fr/mon-compte STOP 36184")
SPEC = {"name": "Benchmark links", "type": "marketing", "lists": ["list.csv"], "sender": "MABOUTIQUE",
        "message": MESSAGE, "defaults": {"Prénom": "client"}}
TRACKING = {"domain": "sms.ex.fr", "preview": {"title": "${Prénom}, vos soldes", "description": "Jusqu'à -20 %"}}


def run_measured(command: list[str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds of all its threads, peak RSS in MB, exit code) of one child process. CPU time
    moves less than wall time when other work shares the cores."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code:
        sys.stderr.write(process.stderr.read().decode())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()

    import yaml

    folder = args.out / f"links-plan-{args.rows}"
    list_path = folder / "list.csv"
    if not list_path.exists():
        print(f"generating {args.rows:,} contacts → {list_path}", flush=True)
        subprocess.run([str(ROOT / ".venv" / "bin" / "smsflow"), "sample", str(list_path), "--rows",
                        str(args.rows)], check=True)
    same_length = MESSAGE
    for n, url in enumerate(("https://www.maboutique.fr/soldes-ete?magasin=${Ville}&cp=${CP}",
                             "https://www.maboutique.fr/mon-compte"), start=1):
        same_length = same_length.replace(url, f"sms.ex.fr/{n:X>9}")
    specs = {"baseline": SPEC, "same-length": {**SPEC, "message": same_length},
             "tracked": {**SPEC, "tracking": TRACKING}}
    walls: dict[str, list[float]] = {name: [] for name in specs}
    cpus: dict[str, list[float]] = {name: [] for name in specs}
    peaks: dict[str, list[float]] = {name: [] for name in specs}
    for name, spec in specs.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    for run in range(args.repeat):
        for name in specs:
            command = [str(ROOT / ".venv" / "bin" / "smsflow"), "plan", str(folder / f"{name}.yaml"), "--out",
                       str(folder / name), "--json", "--no-contracts"]
            wall, cpu, rss, code = run_measured(command)
            if code:
                sys.exit(f"smsflow plan ({name}) failed ({code})")
            walls[name].append(wall)
            cpus[name].append(cpu)
            peaks[name].append(rss)
            print(f"run {run + 1}/{args.repeat} {name:9} {wall:7.2f} s wall {cpu:7.2f} s CPU  peak RSS {rss:,.0f} MB",
                  flush=True)

    summary = {name: json.loads((folder / name / "summary.json").read_text(encoding="utf-8")) for name in specs}
    tracked = summary["tracked"]["tracking"]
    median = {name: statistics.median(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    links_mb = (folder / "tracked" / "links.parquet").stat().st_size / 1e6
    print(f"\nsmsflow plan, {args.rows:,} rows, {summary['tracked']['sendable']:,} sendable, "
          f"{tracked['links_per_message']} links per message; median of {args.repeat} runs, whole process")
    print(f"{'':12} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'credits':>10}")
    for name in specs:
        print(f"{name:12} {median[name]:>8.2f} {cpu[name]:>8.2f} {max(peaks[name]):>12,.0f} "
              f"{summary[name]['credits']:>10,}")
    for name in ("baseline", "same-length"):
        print(f"tracking adds {median['tracked'] - median[name]:+.2f} s wall "
              f"({median['tracked'] / median[name]:.2f}x), {cpu['tracked'] - cpu[name]:+.2f} s CPU to the {name} plan "
              "(goal ≤ +1.5 s for 1M × 2 links)")
    print(f"{tracked['links']:,} short links, links.parquet {links_mb:,.1f} MB")
    print(f"credits: {summary['tracked']['credits']:,} tracked vs {summary['baseline']['credits']:,} with the long "
          "URLs (ENC-6: the short link is what is counted)")
    print(f"load average: {', '.join(f'{value:.1f}' for value in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
