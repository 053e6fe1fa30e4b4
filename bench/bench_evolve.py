"""Benchmark `evolve_export` (the next day of a generated export): wall time and peak memory.

    PYTHONPATH=src python bench/bench_evolve.py                   # 20,000 residents
    PYTHONPATH=src python bench/bench_evolve.py --million         # also 1,000,000 residents
    PYTHONPATH=src python bench/bench_evolve.py --source /tmp/evolve-1m   # an existing export

The source exports are generated first (`--keep DIR` keeps them and reuses them next time; the
1,000,000-resident one takes ~40 s). Each evolve runs in its own child process so that its peak
RSS is its own.
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


def child(source: Path, out: Path, seed: int, days: int) -> None:
    from madoguchi.sync.evolve import evolve_export

    started = time.perf_counter()
    summary = evolve_export(source, out, seed, days=days)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "rows": summary.rows,
        "persons": summary.persons,
        "megabytes": sum((out / name).stat().st_size for name in summary.rows) / 1e6,
    }))


def run(source: Path, out: Path, seed: int, days: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", str(source), "--out", str(out), "--seed", str(seed),
                           "--days", str(days)], check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--million", action="store_true", help="also run 1,000,000 residents")
    ap.add_argument("--sizes", type=int, nargs="+", help="resident counts to run instead")
    ap.add_argument("--source", type=Path, help="evolve this export instead of generating ones")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="keep the generated sources (and reuse them) under this folder")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.out, args.seed, args.days)
        return 0

    from madoguchi.sync.generator import generate_export

    with tempfile.TemporaryDirectory(prefix="madoguchi-bench-") as tmp:
        root = args.keep or Path(tmp)
        if args.source:
            sources = [args.source]
        else:
            sources = []
            for n in args.sizes or ([20_000, 1_000_000] if args.million else [20_000]):
                folder = root / f"export-{n}"
                if not (folder / "manifest.json").exists():
                    generate_export(folder, n, args.seed, TODAY)
                sources.append(folder)
        print(f"{'source':>24} {'days':>4} {'wall s':>7} {'cpu s':>6} {'MB written':>10} {'peak RSS MB':>11}  persons")
        for source in sources:
            r = run(source, Path(tmp) / f"next-{source.name}", args.seed, args.days)
            print(f"{source.name:>24} {args.days:>4} {r['seconds']:>7.1f} {r['cpu_seconds']:>6.1f} "
                  f"{r['megabytes']:>10.1f} {r['peak_rss_mb']:>11.1f}  {r['persons']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
