"""Benchmark the synthetic-export generator: wall time, rows/s and peak memory.

    PYTHONPATH=src python bench/bench_generator.py              # 20,000 residents
    PYTHONPATH=src python bench/bench_generator.py --million    # also 1,000,000 residents
    PYTHONPATH=src python bench/bench_generator.py --sizes 5000 200000

Each size runs in its own child process so that its peak RSS is its own. The files go to a
temporary folder that is removed afterwards (use --keep DIR to keep them).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

TODAY = date(2026, 11, 25)


def child(residents: int, out: Path, seed: int) -> None:
    from madoguchi.sync.generator import generate_export

    started = time.perf_counter()
    manifest = generate_export(out, residents, seed, TODAY) / "manifest.json"
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    print(json.dumps({
        "residents": residents,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # less disturbed by other load than wall time
        "rows": {f["name"]: f["rows"] for f in files},
        "megabytes": sum(f["bytes"] for f in files) / 1e6,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
    }))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--million", action="store_true", help="also run 1,000,000 residents")
    ap.add_argument("--sizes", type=int, nargs="+", help="resident counts to run instead")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="write the exports under this folder and keep them")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.out, args.seed)
        return 0

    sizes = args.sizes or ([20_000, 1_000_000] if args.million else [20_000])
    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-") as tmp:
        root = args.keep or Path(tmp)
        print(f"{'residents':>10} {'wall s':>8} {'cpu s':>7} {'residents/s':>12} {'all rows/s':>11} {'MB':>8} "
              f"{'peak RSS MB':>12}")
        for n in sizes:
            out = root / f"export-{n}"
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(n), "--out", str(out), "--seed", str(args.seed)],
                check=True, capture_output=True, text=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            total_rows = sum(r["rows"].values())
            print(f"{n:>10,} {r['seconds']:>8.1f} {r['cpu_seconds']:>7.1f} {n / r['seconds']:>12,.0f} {total_rows / r['seconds']:>11,.0f} "
                  f"{r['megabytes']:>8.1f} {r['peak_rss_mb']:>12.1f}")
            print("           rows: " + ", ".join(f"{k} {v:,}" for k, v in r["rows"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
