"""Tracked links at plan time (URL-1, URL-2, URL-5): what tracking adds to `smsflow plan`, measured in one run.

    .venv/bin/python bench/links_plan.py --rows 1000000 [--repeat 3]

Generates a realistic list (`smsflow sample`), then plans the same message with two URLs — one personalised with
fields that need percent-encoding (`?ville=${Ville}&cp=${CP}`), one fixed — twice, each in its own process so
wall time and peak RSS include imports:
  - baseline: tracking off (the URLs go out as written);
  - tracked: tracking on, a personalised preview title: two tokens per sendable recipient, links.parquet written.
Runs alternate (baseline, tracked, baseline, …) so other work on the machine weighs on both alike; the medians
are compared. Goal (issue 12): tracking adds ≤ 1.5 s for 1M recipients × 2 links. Prints figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.plan import run_measured  # noqa: E402

MESSAGE = ("${Prénom}, -20 % a ${Ville}: https://www.maboutique.fr/soldes-ete?magasin=${Ville}&cp=${CP}. "
           "Compte: https://www.maboutique.fr/mon-compte STOP 36184")
SPEC = {"name": "Benchmark links", "type": "marketing", "lists": ["list.csv"], "sender": "MABOUTIQUE",
        "message": MESSAGE, "defaults": {"Prénom": "client"}}
TRACKING = {"domain": "sms.ex.fr", "preview": {"title": "${Prénom}, vos soldes", "description": "Jusqu'à -20 %"}}


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
    specs = {"baseline": SPEC, "tracked": {**SPEC, "tracking": TRACKING}}
    walls: dict[str, list[float]] = {name: [] for name in specs}
    peaks: dict[str, list[float]] = {name: [] for name in specs}
    for name, spec in specs.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    for run in range(args.repeat):
        for name in specs:
            command = [str(ROOT / ".venv" / "bin" / "smsflow"), "plan", str(folder / f"{name}.yaml"), "--out",
                       str(folder / name), "--json", "--no-contracts"]
            wall, rss, code = run_measured(command)
            if code:
                sys.exit(f"smsflow plan ({name}) failed ({code})")
            walls[name].append(wall)
            peaks[name].append(rss)
            print(f"run {run + 1}/{args.repeat} {name:9} {wall:7.2f} s  peak RSS {rss:,.0f} MB", flush=True)

    summary = {name: json.loads((folder / name / "summary.json").read_text(encoding="utf-8")) for name in specs}
    tracked = summary["tracked"]["tracking"]
    median = {name: statistics.median(values) for name, values in walls.items()}
    added = median["tracked"] - median["baseline"]
    links_mb = (folder / "tracked" / "links.parquet").stat().st_size / 1e6
    print(f"\nsmsflow plan, {args.rows:,} rows, {summary['tracked']['sendable']:,} sendable, "
          f"{tracked['links_per_message']} links per message; median of {args.repeat} runs, whole process")
    print(f"{'':10} {'wall s':>8} {'peak RSS MB':>12} {'credits':>10}")
    for name in specs:
        print(f"{name:10} {median[name]:>8.2f} {max(peaks[name]):>12,.0f} {summary[name]['credits']:>10,}")
    print(f"tracking adds {added:+.2f} s ({median['tracked'] / median['baseline']:.2f}x the baseline; goal ≤ +1.5 s "
          f"for 1M × 2 links); {tracked['links']:,} short links, links.parquet {links_mb:,.1f} MB")
    print(f"credits: {summary['tracked']['credits']:,} tracked vs {summary['baseline']['credits']:,} with the long "
          "URLs (ENC-6: the short link is what is counted)")
    print(f"load average: {', '.join(f'{value:.1f}' for value in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
