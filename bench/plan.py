"""Plan-stage benchmark: `smsflow plan` against the obvious row-wise implementation, measured in one run.

    .venv/bin/python bench/plan.py --rows 1000000 [--baseline-rows 20000]

Generates a realistic list (French names with accents, mixed number formats, ~5 % invalid, ~3 % duplicates,
some empty fields), then runs, each in its own process so wall time and peak RSS include imports:
  - smsflow: `smsflow plan SPEC --out DIR --json --no-contracts` on the whole list (the plan stage: the data
    contract, a Great Expectations check the baseline does not do, is left out of both);
  - baseline: pandas read + phonenumbers per row + jinja2 per row + per-character septet counting, on a
    sample of the list (it runs at a few thousand rows/s), its rows/s extrapolated to the whole list.
Prints wall time, rows/s, peak RSS and the speed ratio. Never asserts: figures are for people to read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGE = "Bonjour ${Civilité} ${Prénom} ${Nom}, -20 % chez nous à ${Ville} : ${Prix} offerts. STOP 36184"
SPEC = {
    "name": "Benchmark", "type": "marketing", "lists": ["list.csv"], "sender": "MABOUTIQUE", "message": MESSAGE,
    "defaults": {"Civilité": "Mme/M"}, "account": {"allowed_countries": ["FR", "BE", "RE"]},
}


def run_measured(command: list[str], stdout=subprocess.DEVNULL) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.stderr.write(process.stderr.read().decode())
    return wall, usage.ru_maxrss / 1024, process.returncode


def baseline(list_path: Path, rows: int) -> None:
    """The row-wise implementation a first version would write (run in a child process)."""
    import jinja2
    import pandas as pd
    import phonenumbers

    gsm7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
               "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
    extension = set("\f^{}\\[~]|€")
    frame = pd.read_csv(list_path, sep=";", dtype=str, keep_default_na=False, nrows=rows)
    template = jinja2.Template(MESSAGE.replace("${", "{{ ").replace("}", " }}"))
    seen, results = set(), []
    for record in frame.to_dict("records"):
        status, e164, message, parts = None, None, None, 0
        try:
            number = phonenumbers.parse(record["Mobile"], "FR")
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            valid = phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in (
                phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            status = 2
        elif e164 in seen:
            status = 4
        else:
            seen.add(e164)
            values = {k: (v.strip() or ("Mme/M" if k == "Civilité" else "")) for k, v in record.items()}
            message = template.render(values)
            septets = 0
            for char in message:
                septets += 2 if char in extension else 1
                if char not in gsm7 and char not in extension:
                    status = 6
            parts = 1 if septets <= 160 else -(-septets // 153)
        results.append((record["Mobile"], e164, status, message, parts))
    pd.DataFrame(results, columns=["MOBILE_RAW", "INT_MOBILE", "STATUS_CODE", "MESSAGE", "PARTS"]).to_parquet(
        list_path.parent / "baseline.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--baseline-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_child:
        baseline(args.baseline_child, args.baseline_rows)
        return

    import yaml

    folder = args.out / f"plan-{args.rows}"
    list_path = folder / "list.csv"
    if not list_path.exists():  # in a child process, so this one stays small (its RSS would be inherited)
        print(f"generating {args.rows:,} contacts → {list_path}", flush=True)
        subprocess.run([str(ROOT / ".venv" / "bin" / "smsflow"), "sample", str(list_path), "--rows",
                        str(args.rows)], check=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump(SPEC, allow_unicode=True), encoding="utf-8")
    size_mb = list_path.stat().st_size / 1e6

    smsflow = [str(ROOT / ".venv" / "bin" / "smsflow"), "plan", str(folder / "spec.yaml"), "--out",
               str(folder / "plan"), "--json", "--no-contracts"]
    wall, rss, code = run_measured(smsflow)
    if code:
        sys.exit(f"smsflow plan failed ({code})")
    summary = json.loads((folder / "plan" / "summary.json").read_text(encoding="utf-8"))

    sample = min(args.baseline_rows, args.rows)
    base_wall, base_rss, code = run_measured(
        [sys.executable, __file__, "--baseline-child", str(list_path), "--baseline-rows", str(sample)])
    if code:
        sys.exit(f"baseline failed ({code})")

    rate, base_rate = args.rows / wall, sample / base_wall
    print(f"\nplan stage, {args.rows:,} rows ({size_mb:,.0f} MB), whole process including imports")
    print(f"{'':10} {'rows':>11} {'wall s':>9} {'rows/s':>11} {'peak RSS MB':>12}")
    print(f"{'smsflow':10} {args.rows:>11,} {wall:>9.2f} {rate:>11,.0f} {rss:>12,.0f}")
    print(f"{'baseline':10} {sample:>11,} {base_wall:>9.2f} {base_rate:>11,.0f} {base_rss:>12,.0f}"
          f"   (row-wise on a sample; {args.rows / base_rate:,.0f} s for all rows)")
    print(f"speed ratio: {rate / base_rate:,.1f}x")
    numbers = summary["numbers"]
    print(f"numbers: {numbers['fast_path']:,} settled by the vectorised fast path, {numbers['full_parser']:,} rows "
          f"({numbers['full_parser_distinct']:,} distinct strings) by the full phonenumbers parser")
    print(f"statuses: {summary['status_counts']}  credits: {summary['credits']:,}")


if __name__ == "__main__":
    main()
