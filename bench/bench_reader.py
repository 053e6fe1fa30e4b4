"""Benchmark: the cost of reading one record of an export file (reader.FileReader plus the search keys).

    python bench/bench_reader.py                  # seconds per record (best of 5), 20,000-resident export
    python bench/bench_reader.py --callgrind      # CPU instructions per record, counted by valgrind

This is the work the full way of loading (the first load, `--full`) does for every record, in the
worker processes. On a shared machine seconds vary by ±30% from run to run; instructions counted by
`valgrind --tool=callgrind` do not (the same count twice), so compare changes to the reader with
`--callgrind`. The count is the difference of two runs of different sizes, without start-up.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

KINDS = ("residents", "qualifications", "addresses")


def read(folder: Path, kind: str, nbytes: int | None) -> tuple[int, float]:
    """Read the records in the first `nbytes` of a file as the importer's workers do; (records, seconds)."""
    from madoguchi.sync.importer import _staged_rows
    from madoguchi.sync.mapping import default_mapping
    from madoguchi.sync.reader import FileReader

    fm = default_mapping().files[kind]
    reader = FileReader(folder / fm.path, fm, lambda issue: None, end=nbytes, salt=b"bench")
    t = time.process_time()
    n = sum(1 for _ in _staged_rows(kind, reader, {}))
    return n, time.process_time() - t


def callgrind(folder: Path, kind: str, small: int, big: int) -> float:
    counts = []
    for nbytes in (small, big):
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", sys.executable,
                                  __file__, "--child", str(folder), kind, str(nbytes)],
                                 capture_output=True, text=True, check=True)
        instr = int(re.search(r"Collected : (\d+)", out.stderr)[1])
        counts.append((instr, int(out.stdout.split()[0])))
    (i1, n1), (i2, n2) = counts
    return (i2 - i1) / (n2 - n1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--callgrind", action="store_true", help="instructions per record (needs valgrind)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/madoguchi-bench"))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        folder, kind, nbytes = args.child
        print(read(Path(folder), kind, int(nbytes))[0])
        return
    from madoguchi.sync.generator import generate_export

    folder = args.workdir / "export-20000"
    if not (folder / "manifest.json").exists():
        generate_export(folder, 20_000, seed=1, today=date(2026, 11, 25))
    for kind in KINDS:
        size = (folder / f"{kind}.csv").stat().st_size
        if args.callgrind:
            per = callgrind(folder, kind, size // 10, size // 3)
            print(f"{kind:15}: {per:10,.0f} instructions per record")
        else:
            best = min((read(folder, kind, None) for _ in range(5)), key=lambda r: r[1])
            print(f"{kind:15}: {best[1] / best[0] * 1e6:6.1f} µs per record (best of 5, {best[0]:,} records)")


if __name__ == "__main__":
    main()
