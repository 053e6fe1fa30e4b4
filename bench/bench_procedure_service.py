"""Benchmark: the procedure service as the counter screen uses it, on SQLite and PostgreSQL.

Measures (wall and CPU time, median of N rounds) for a family moving in and a two-household change:
- listing(save=False): load the case, evaluate every rule (what the panel runs off the UI thread);
- save_listing: store a changed selection (what the panel runs on the UI thread);
- answer: one answer saved and re-listed in one transaction.
Prints numbers; asserts no timing.

    PYTHONPATH=src:tests:tests/cases python bench/bench_procedure_service.py [--rounds N] [--no-pg]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "cases")]

from move_samples import TODAY, move_in_family, split_and_join  # noqa: E402

from madoguchi.services import procedure_catalogue  # noqa: E402
from madoguchi.services.cases import CaseService  # noqa: E402
from madoguchi.services.context import Actor  # noqa: E402
from madoguchi.services.procedures import ProcedureService  # noqa: E402
from madoguchi.store import migrate  # noqa: E402
from madoguchi.store.db import Database  # noqa: E402
from madoguchi.store.models import Staff  # noqa: E402

ACTOR = Actor("bench", "計測", terminal="B01", permissions=frozenset({"case.write"}))


def _timed(fn, rounds: int) -> tuple[float, float]:
    wall, cpu = [], []
    for _ in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def bench(db: Database, label: str, rounds: int) -> None:
    with db.session() as s:
        s.add(Staff(login="bench", display_name="計測"))
        s.commit()
    cases, svc = CaseService(db, ACTOR), ProcedureService(db, ACTOR)
    for name, move, question, subject in (("転入 親子2人", move_in_family(), "ninshin", "new-A"),
                                          ("世帯変更 2世帯", split_and_join(), "koseki_todoke", "H002")):
        case = cases.open_case(purpose=name)
        case, _ = cases.save_move(case.id, case.version, move, TODAY)
        lw, lc = _timed(lambda: svc.listing(case.id, save=False), rounds)
        pending = svc.listing(case.id, save=False)
        w, c = time.perf_counter(), time.process_time()
        stored = svc.save_listing(case.id, pending)
        sw, sc = (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000
        state = {"v": stored.case.version, "value": True}

        def answer() -> None:
            state["value"] = not state["value"]
            state["v"] = svc.answer(case.id, state["v"], question, subject, state["value"]).case.version

        aw, ac = _timed(answer, rounds)
        print(f"{label:10s} {name:12s} listing {lw:6.1f} ms (CPU {lc:6.1f})  save_listing {sw:6.1f} ms "
              f"(CPU {sc:5.1f})  answer+relist {aw:6.1f} ms (CPU {ac:6.1f})  [{len(stored.rows)} 件]")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    w = time.perf_counter()
    procedure_catalogue.catalogue()
    print(f"catalogue first load: {(time.perf_counter() - w) * 1000:.0f} ms")
    with tempfile.TemporaryDirectory() as d:
        db = Database.connect(f"sqlite:///{d}/bench.sqlite3")
        migrate.upgrade(db.engine)
        bench(db, "SQLite", args.rounds)
        db.dispose()
    if not args.no_pg:
        import pgtools
        name = pgtools.create_database("mdg_bench")
        try:
            db = Database.connect(pgtools.url_for(name))
            migrate.upgrade(db.engine)
            bench(db, "PostgreSQL", args.rounds)
            db.dispose()
        finally:
            pgtools.drop_database(name)


if __name__ == "__main__":
    main()
