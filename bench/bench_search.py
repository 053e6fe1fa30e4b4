"""Benchmark: resident search latency through the service vs the bare indexed SQL it needs.

    python bench/bench_search.py                 # 20,000 residents
    python bench/bench_search.py --million       # 1,000,000 residents (several minutes to load)

Loads a generated export into a fresh PostgreSQL database (local server, 127.0.0.1:5432), connects as
a real clerk login role (RLS applies), and runs a fixed mix of queries a counter types: kana prefixes,
kana + 和暦 year, full birth dates, kanji names, addresses, 宛名番号, 住民票コード and kana + 町字. For each, the service call
`residents.search` (parsing, query, masking, result objects, audit event, commit) is timed against the
same SELECT (same SQL text and parameters) sent bare on a psycopg connection of the same role. Prints p50/p95 in ms and the ratio
(goal: service ≤ 1.5× bare, p95 < 30 ms at 1M).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

TODAY = date(2026, 11, 25)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def build_queries(db, n: int, seed: int = 7) -> list[str]:  # noqa: ANN001
    """Queries drawn from the loaded data so that they hit (as real searches mostly do)."""
    from sqlalchemy import text

    from madoguchi.domain import wareki
    from madoguchi.domain.kana import hiragana
    rnd = random.Random(seed)
    with db.engine.connect() as c:
        people = c.execute(text(
            "SELECT p.atena_no, p.juminhyo_code, p.name, p.name_kana, p.birth_date, t.name || a.banchi AS addr, t.name AS town "
            "FROM persons p JOIN person_addresses a USING (atena_no) JOIN towns t ON t.town_code = a.town_code "
            "WHERE p.status = '1' AND NOT p.restricted ORDER BY p.atena_no LIMIT 5000")).all()
    out: list[str] = []
    for i in range(n):
        p = rnd.choice(people)
        surname_kana, _, given_kana = p.name_kana.partition("\u3000")
        surname, _, given = p.name.partition("\u3000")
        kind = i % 10
        if kind == 0:
            out.append(hiragana(surname_kana[:3]))                                # やまだ…
        elif kind == 1:
            out.append(f"{surname_kana} {wareki.format_wareki(p.birth_date, short=True).split('.')[0]}")
        elif kind == 2:
            out.append(wareki.format_wareki(p.birth_date, short=True))            # S55.12.26
        elif kind == 3:
            out.append(f"{surname}\u3000{given}")                                 # 山田　太郎
        elif kind == 4:
            out.append(p.addr)                                                     # 三条9番9号
        elif kind == 5:
            out.append(p.atena_no)
        elif kind == 6:
            out.append(f"{hiragana(surname_kana)} {hiragana(given_kana[:2])}")   # やまだ たろ
        elif kind == 7:
            out.append(p.birth_date.strftime("%Y%m%d"))
        elif kind == 8:
            out.append(p.juminhyo_code)                                            # 11 digits
        else:
            out.append(f"{hiragana(surname_kana)} {p.town}")                       # やまだ 一条
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--million", action="store_true", help="1,000,000 residents instead of 20,000")
    ap.add_argument("--residents", type=int, help="any other number of residents")
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--keep", action="store_true", help="keep the database (name printed)")
    args = ap.parse_args()
    n = args.residents or (1_000_000 if args.million else 20_000)

    import pgtools
    import psycopg
    from residents_seed import make_actor
    from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

    from madoguchi.services import residents
    from madoguchi.store import migrate
    from madoguchi.store.db import Database
    from madoguchi.sync.generator import generate_export
    from madoguchi.sync.importer import import_export

    name = pgtools.create_database("mdg_bench_search")
    login = f"bench_{random.randrange(16**6):06x}"
    try:
        base = Database.connect(pgtools.url_for(name))
        migrate.upgrade(base.engine)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            folder = generate_export(Path(tmp), n, 1228, TODAY)
            import_export(base, folder, actor="bench", today=TODAY)
        with base.engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
            c.commit()
        print(f"residents: {n:,}  (generate + import {time.perf_counter() - t:.1f} s)")
        db, actor = make_actor(base, login, ["clerk"])
        queries = build_queries(base, args.queries)
        u = db.engine.url
        raw = psycopg.connect(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                              autocommit=True)
        can_unmask = actor.can("support_measure.unmask")
        pg_dialect = pg_psycopg.dialect()
        # warm-up: caches, prepared plans, connection pool
        for q in queries[:40]:
            residents.search(db, actor, q, today=TODAY)
        service_ms: list[float] = []
        bare_ms: list[float] = []
        per_kind: dict[int, list[tuple[float, float]]] = {}
        hits_total = 0
        for i, q in enumerate(queries):
            pq = residents.parse_query(q, residents.town_names(db))
            stmt = residents._search_statement(pq, can_unmask=can_unmask, limit=50, pg=True)
            compiled = stmt.compile(dialect=pg_dialect)
            sql = compiled.string
            params = {**compiled.params, **residents._search_params(pq, True)}
            t0 = time.perf_counter()
            rows = raw.execute(sql, params).fetchall()
            t1 = time.perf_counter()
            hits = residents.search(db, actor, q, today=TODAY)
            t2 = time.perf_counter()
            if len(rows) != len(hits):
                raise SystemExit(f"mismatch for {q!r}: bare {len(rows)} vs service {len(hits)}")
            hits_total += len(hits)
            bare_ms.append((t1 - t0) * 1000)
            service_ms.append((t2 - t1) * 1000)
            per_kind.setdefault(i % 10, []).append((bare_ms[-1], service_ms[-1]))
        raw.close()
        labels = ["kana prefix", "kana + 和暦年", "和暦 date", "kanji name", "address", "宛名番号",
                  "kana surname+given", "西暦 8 digits", "住民票コード", "kana + 町字"]
        print(f"queries: {len(queries)}  (mean hits {hits_total / len(queries):.1f})")
        print(f"{'kind':<20} {'bare p50':>9} {'bare p95':>9} {'svc p50':>9} {'svc p95':>9}")
        for k in sorted(per_kind):
            b = [x for x, _ in per_kind[k]]
            s = [y for _, y in per_kind[k]]
            print(f"{labels[k]:<20} {pct(b, 50):9.2f} {pct(b, 95):9.2f} {pct(s, 50):9.2f} {pct(s, 95):9.2f}")
        bp50, bp95 = pct(bare_ms, 50), pct(bare_ms, 95)
        sp50, sp95 = pct(service_ms, 50), pct(service_ms, 95)
        print(f"{'ALL':<20} {bp50:9.2f} {bp95:9.2f} {sp50:9.2f} {sp95:9.2f}   (ms)")
        print(f"ratio service/bare: p50 {sp50 / bp50:.2f}x  p95 {sp95 / bp95:.2f}x  "
              f"mean {statistics.mean(service_ms) / statistics.mean(bare_ms):.2f}x   "
              "goal ≤ 1.5x" + (f"; service p95 < 30 ms at 1M: {'met' if sp95 < 30 else 'NOT met'}"
                                 if n >= 1_000_000 else ""))
        db.dispose()
        base.dispose()
    finally:
        if not args.keep:
            pgtools.drop_database(name)
            pgtools.drop_roles([login])
        else:
            print(f"database kept: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
