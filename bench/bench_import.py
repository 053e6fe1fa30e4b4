"""Benchmark: full load of a generated export into PostgreSQL vs a raw `psql \\copy` of the same files.

    python bench/bench_import.py                 # 20,000 residents
    python bench/bench_import.py --million       # 1,000,000 residents (a few minutes)

Prints seconds, peak memory (ru_maxrss of the loader process) and bytes written (WAL, temp files:
what an HDD has to take) for: the first load into an empty database, a second identical load
(outcome 「変更なし」), the next day's export (`demo evolve`: one day of moves, births, deaths,
cards … on top of the first one — the nightly case), the first load again the full way
(`full=True`, every record parsed and compared: what the nightly load did before record hashes),
and `psql \\copy` of the five CSV files into bare text tables; then each as a ratio to the raw copy
(goal ≤ 2×).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

TODAY = date(2026, 11, 25)
FILES = ("residents.csv", "qualifications.csv", "support_measures.csv", "addresses.csv", "katagaki.csv")


def child(url: str, folder: str, full: bool = False) -> None:
    """Run one import in this (fresh) process and print its time and peak memory as JSON."""
    from madoguchi.store.db import Database
    from madoguchi.sync.importer import import_export

    db = Database.connect(url)
    t = time.perf_counter()
    r = import_export(db, folder, actor="bench", today=TODAY, full=full)
    secs = time.perf_counter() - t
    print(json.dumps({"seconds": secs, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "workers_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                      "outcome": r.outcome, "persons": r.changes["persons"],
                      "rows": {k: c["rows"] for k, c in r.counts.items()}}))


def _written(url: str) -> tuple[float, float]:
    """WAL position and temp file bytes of the database so far (what a load writes, for the HDD question)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True) as c:
        wal, temp = c.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8, temp_bytes::float8 "
                              "FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return wal, temp


def run_child(url: str, folder: Path, full: bool = False) -> dict:
    wal0, temp0 = _written(url)
    out = subprocess.run([sys.executable, __file__, "--child", url, str(folder)] + (["--full"] if full else []),
                         check=True, capture_output=True, text=True)
    wal1, temp1 = _written(url)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wal_mb": (wal1 - wal0) / 1e6,
            "temp_mb": (temp1 - temp0) / 1e6}


# What the live schema indexes, on the same source columns: with these the copied rows are as
# searchable as after a load (name, kana, 通称, household, address, qualifications); key columns in
# byte order, as the live ones (migration 0008).
RAW_INDEXES = (
    "CREATE UNIQUE INDEX ON residents (atena_no COLLATE \"C\")",
    "CREATE INDEX ON residents (household_no COLLATE \"C\")",
    "CREATE INDEX ON residents (birth_date)",
    "CREATE INDEX ON residents (juminhyo_code COLLATE \"C\")",
    "CREATE INDEX ON residents ((name_kana COLLATE \"C\"), birth_date, atena_no) WHERE status = '1'",
    "CREATE INDEX ON residents ((name_kana COLLATE \"C\"), birth_date, atena_no) WHERE status <> '1'",
    "CREATE INDEX ON residents ((alias_kana COLLATE \"C\"), birth_date, atena_no) WHERE alias_kana <> ''",
    "CREATE INDEX ON residents ((replace(name, '\u3000', '') COLLATE \"C\"), birth_date, atena_no) WHERE status = '1'",
    "CREATE INDEX ON residents ((replace(name, '\u3000', '') COLLATE \"C\"), birth_date, atena_no) WHERE status <> '1'",
    "CREATE INDEX ON residents ((alias COLLATE \"C\"), birth_date, atena_no) WHERE alias <> ''",
    "CREATE INDEX ON residents (household_no COLLATE \"C\") WHERE is_householder = '1'",
    "CREATE INDEX ON residents (town_code COLLATE \"C\")",
    "CREATE INDEX ON residents ((town_code || banchi || katagaki COLLATE \"C\"))",
    "CREATE INDEX ON qualifications (atena_no COLLATE \"C\")",
    "CREATE INDEX ON support_measures (atena_no COLLATE \"C\")",
    "CREATE UNIQUE INDEX ON addresses (town_code COLLATE \"C\", banchi)",
    "CREATE UNIQUE INDEX ON katagaki (town_code COLLATE \"C\", banchi, katagaki)",
)


def raw_copy(pgtools, folder: Path, indexes: bool = False) -> float:  # noqa: ANN001
    """psql \\copy of every CSV into bare text tables of a fresh database (the floor for a load);
    with `indexes`, then the indexes a searchable database needs (the floor for a first load)."""
    name = pgtools.create_database("mdg_bench_raw")
    try:
        script = []
        for f in FILES:
            with open(folder / f, encoding="utf-8-sig", newline="") as fh:
                header = next(csv.reader(fh))
            table = f.removesuffix(".csv")
            script.append(f"CREATE TABLE {table} ({', '.join(f'{h} text' for h in header)});")
        for f in FILES:
            script.append(f"\\copy {f.removesuffix('.csv')} FROM '{folder / f}' WITH (FORMAT csv, HEADER true)")
        if indexes:
            script += ["SET maintenance_work_mem = '256MB'", *RAW_INDEXES]
        env = {**os.environ, "PGHOST": pgtools.LOCAL_HOST, "PGPORT": str(pgtools.LOCAL_PORT),
               "PGUSER": pgtools.LOCAL_USER}
        t = time.perf_counter()
        subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", name, "-c", "BEGIN"] +
                       [arg for s in script for arg in ("-c", s)] + ["-c", "COMMIT"],
                       check=True, env=env, capture_output=True)
        return time.perf_counter() - t
    finally:
        pgtools.drop_database(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--million", action="store_true", help="1,000,000 residents instead of 20,000")
    ap.add_argument("--residents", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/madoguchi-bench"))
    ap.add_argument("--workers", type=int, help="parsing processes (default: automatic)")
    ap.add_argument("--repeat", type=int, help="runs of each measurement, the median is shown (default 3; 1 with --million)")
    ap.add_argument("--child", nargs=2, metavar=("URL", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workers:
        os.environ["MADOGUCHI_IMPORT_WORKERS"] = str(args.workers)
    if args.child:
        child(*args.child, full=args.full)
        return
    import pgtools

    from madoguchi.store import migrate
    from madoguchi.store.db import Database
    from madoguchi.sync.evolve import evolve_export
    from madoguchi.sync.generator import generate_export

    n = 1_000_000 if args.million else args.residents
    args.repeat = args.repeat or (1 if args.million else 3)
    folder = args.workdir / f"export-{n}"
    if not (folder / "manifest.json").exists():
        t = time.perf_counter()
        generate_export(folder, n, seed=1, today=TODAY)
        print(f"generated {n:,} residents in {time.perf_counter() - t:.1f}s → {folder}")
    day2 = args.workdir / f"export-{n}-day2"
    if not (day2 / "manifest.json").exists():
        evolve_export(folder, day2, seed=1, today=date(2026, 11, 26))
    size = sum((folder / f).stat().st_size for f in FILES)
    print(f"export: {size / 1e6:.1f} MB")

    @contextlib.contextmanager
    def fresh_database() -> Iterator[str]:
        name = pgtools.create_database("mdg_bench")
        try:
            db = Database.connect(pgtools.url_for(name))
            migrate.upgrade(db.engine)
            db.dispose()
            yield pgtools.url_for(name)
        finally:
            pgtools.drop_database(name)

    runs: dict[str, list[dict]] = {k: [] for k in ("first load   ", "same again   ", "next day     ",
                                                   "next day full")}
    raws, raws_indexed = [], []
    for _ in range(args.repeat):  # this machine is shared: the median of a few runs
        with fresh_database() as url:
            runs["first load   "].append(run_child(url, folder))
            runs["same again   "].append(run_child(url, folder))
            runs["next day     "].append(run_child(url, day2))
        with fresh_database() as url:
            run_child(url, folder)
            runs["next day full"].append(run_child(url, day2, full=True))
        raws.append(raw_copy(pgtools, folder))
        raws_indexed.append(raw_copy(pgtools, folder, indexes=True))
    raw = statistics.median(raws)
    raw_indexed = statistics.median(raws_indexed)
    print(f"rows: {runs['first load   '][0]['rows']}  (median of {args.repeat} runs)")
    median = {label: sorted(rs, key=lambda x: x["seconds"])[len(rs) // 2] for label, rs in runs.items()}
    for label, r in median.items():
        p = r["persons"]
        print(f"{label} : {r['seconds']:8.2f} s  {r['seconds'] / raw:5.2f}x  peak RSS {r['maxrss_kb'] / 1024:6.1f} MB "
              f"(workers {r['workers_maxrss_kb'] / 1024:.1f} MB each)  WAL {r['wal_mb']:,.0f} MB, temp files "
              f"{r['temp_mb']:,.0f} MB  {r['outcome']}: new {p['new']:,}, "
              f"moved {p['moved']:,}, changed {p['changed']:,}, removed {p['removed']:,}")
    print(f"psql \\copy    : {raw:8.2f} s  (goal: each load ≤ 2x)")
    print(f"  + indexes    : {raw_indexed:8.2f} s  {raw_indexed / raw:5.2f}x  (the same search indexes built "
          f"after the copy; first load {median['first load   ']['seconds'] / raw_indexed:.2f}x this)")


if __name__ == "__main__":
    main()
