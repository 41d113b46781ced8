"""Dispatch benchmark: parts per second over SMPP against the simulator process, measured in one run.

    .venv/bin/python bench/dispatch.py --messages 20000 [--tps 500]

Prints, each from a fresh campaign against a fresh `smsflow smsc` process on 127.0.0.1:
  - one bind, no throttling, receipts on: parts/s;
  - one bind per core, in parallel processes: parts/s and the speed-up over one bind;
  - throttled: the simulator allows `--tps` per bind and the dispatcher is told the same; the share of that
    rate achieved;
and for every run the parts lost and duplicated (from the simulator's log). Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_plan(folder: Path, messages: int) -> Path:
    from pipelines.plan import plan_file

    numbers = "".join(f"06{10_000_000 + i:08d};Client {i}\n" for i in range(messages))
    (folder / "list.csv").write_text("Mobile;Nom\n" + numbers, encoding="utf-8")
    (folder / "spec.yaml").write_text(json.dumps({
        "name": "bench", "type": "notification", "lists": ["list.csv"], "sender": "BENCH",
        "message": "Bonjour ${Nom}, votre commande est prête. Retrait en magasin sous 48 h."}), encoding="utf-8")
    return plan_file(folder / "spec.yaml", folder / "campaign" / "plan").out_dir


def run(folder: Path, messages: int, binds: int, tps: float | None, simulator_tps: int | None) -> dict:
    from pipelines.dispatch import SmscSettings, send_plan
    from pipelines.smpp.simulator import SimulatorProcess

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    plan_dir = make_plan(folder, messages)
    with SimulatorProcess(folder / "smsc", {"receipt_delay": 0.2, "tps_per_bind": simulator_tps}) as smsc:
        settings = SmscSettings(port=smsc.port, binds=binds, window=128, tps=tps)
        started = time.perf_counter()
        report = send_plan(plan_dir, settings)
        wall = time.perf_counter() - started
    counts = Counter(part["destination"] for part in smsc.records("part"))
    return {"parts": report.accepted, "seconds": report.seconds, "wall": wall,
            "rate": report.accepted / report.seconds, "throttled": report.throttled,
            "lost": messages - len(counts), "duplicated": sum(c - 1 for c in counts.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--tps", type=int, default=500, help="operator rate for the throttled run (parts/s)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "dispatch")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = []
    one = run(args.out / "one-bind", args.messages, 1, None, None)
    rows.append(("1 bind, unthrottled", one))
    many = run(args.out / "binds", args.messages, cores, None, None)
    rows.append((f"{cores} binds, unthrottled", many))
    throttled_messages = min(args.messages, args.tps * 10)
    throttled = run(args.out / "throttled", throttled_messages, 1, float(args.tps), args.tps)
    rows.append((f"1 bind, {args.tps} parts/s allowed", throttled))
    print("\ndispatch over SMPP to the simulator on 127.0.0.1 (window 128, receipts on)")
    print(f"{'run':28} {'parts':>8} {'seconds':>8} {'parts/s':>9} {'throttled':>9} {'lost':>5} {'dup':>4}")
    for name, row in rows:
        print(f"{name:28} {row['parts']:>8,} {row['seconds']:>8.2f} {row['rate']:>9,.0f} {row['throttled']:>9,} "
              f"{row['lost']:>5} {row['duplicated']:>4}")
    print(f"speed-up with {cores} binds: {many['rate'] / one['rate']:.2f}x")
    print(f"throttled run: {throttled['rate'] / args.tps:.1%} of the {args.tps} parts/s allowed")


if __name__ == "__main__":
    main()
