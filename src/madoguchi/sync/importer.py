"""Load a core-system (基幹系) export into the database: manifest → staging → validate → swap.

One code path for PostgreSQL and SQLite; only the bulk write into the staging tables differs
(`COPY` through psycopg 3 vs `executemany`; on PostgreSQL big files are parsed by several processes
with the same reader and their output is COPYed in file order). The swap is one transaction that merges staging into
the live tables: rows identical to the previous load are left alone, changed/removed rows are
deleted and new/changed rows inserted. Readers keep seeing the previous data until the commit (no
TRUNCATE, no table rename, so row-level security policies and grants stay as they are), and a
failed or killed load leaves the previous data exactly as it was.

Rows that break the rules become `import_issues`; under the `quarantine` policy the person they
belong to keeps their previous data (「前回の内容のまま」), under `abort` the whole load is rejected.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from madoguchi.domain.jst import JST
from madoguchi.domain.kana import fold_kana
from madoguchi.errors import ImportFailed
from madoguchi.store.models import (ImportIssue, ImportRun, PersonAddressRow, PersonRow, QualificationRow,
                                    SupportMeasureRow)
from madoguchi.sync.mapping import CATALOGUE, Mapping, default_mapping, load_mapping
from madoguchi.sync.reader import FileReader, Issue

Progress = Callable[[str, int, "int | None"], None]
# Files are read in this order: the address master first (residents are checked against it).
ORDER = ("addresses", "katagaki", "residents", "qualifications", "support_measures")
HOLDABLE = {"residents": "persons", "qualifications": "qualifications", "support_measures": "support_measures"}
PAUSE_ENV = "MADOGUCHI_IMPORT_TEST_PAUSE"  # test hook: after_staging / in_swap
MAX_ISSUES_KEPT = 100_000
BATCH = 5000
LOCK_WAIT = 10.0  # seconds
PARALLEL_MIN_BYTES = 16 << 20  # files smaller than this are parsed in-process
TRACE = bool(os.environ.get("MADOGUCHI_IMPORT_TRACE"))  # per-statement timings on stderr
PG_TEMP_BUFFERS = os.environ.get("MADOGUCHI_IMPORT_TEMP_BUFFERS", "512MB")
PG_WORK_MEM = os.environ.get("MADOGUCHI_IMPORT_WORK_MEM", "256MB")


@dataclass
class ImportResult:
    run_id: int
    outcome: str  # ok / unchanged
    message: str
    export_id: str = ""
    counts: dict = field(default_factory=dict)
    changes: dict = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    duration: float = 0.0
    same_export: bool = False

    @property
    def quarantined(self) -> int:
        return len(self.issues)


@dataclass
class Manifest:
    export_id: str
    created_at: str
    kind: str
    files: dict[str, tuple[int | None, str | None]]  # file name -> (rows, sha256)


# --- staging tables ---------------------------------------------------------------------------

_STG_META = MetaData()
_RES_EXTRA = ("kana_key", "alias_kana_key", "address_key")


def _coltype(kind: str, name: str):  # noqa: ANN202
    models = {"residents": (PersonRow, PersonAddressRow), "qualifications": (QualificationRow,),
              "support_measures": (SupportMeasureRow,)}.get(kind, ())
    for m in models:
        if name in m.__table__.c:
            return m.__table__.c[name].type
    return String()


def _stg_table(kind: str) -> Table:
    names = [f.name for f in CATALOGUE[kind]] + (list(_RES_EXTRA) if kind == "residents" else [])
    cols = [Column(n, _coltype(kind, n)) for n in names] + [Column("line", Integer)]
    return Table(f"stg_{kind}", _STG_META, *cols, prefixes=["TEMPORARY"])


STAGING = {k: _stg_table(k) for k in ORDER}
STG_TOWNS = Table("stg_towns", _STG_META, Column("town_code", String), Column("name", String),
                  Column("kana", String), Column("kana_key", String), Column("postal_code", String),
                  prefixes=["TEMPORARY"])
STG_DIFF = Table("stg_diff", _STG_META, Column("atena_no", String), Column("s_status", String),
                 Column("p_status", String), Column("same_person", Integer), Column("same_addr", Integer),
                 Column("moved", Integer), prefixes=["TEMPORARY"])
STG_HELD = Table("stg_held", _STG_META, Column("tbl", String), Column("atena_no", String),
                 prefixes=["TEMPORARY"])
ALL_STAGING = (*STAGING.values(), STG_TOWNS, STG_HELD, STG_DIFF)


# --- helpers ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=200_000)
def _fold(s: str) -> str:
    return fold_kana(s) if s else ""


def _fold_name(s: str) -> str:
    # Fold surname and given name separately: both repeat a lot, so the cache hits.
    parts = s.replace(" ", "\u3000").split("\u3000")
    if len(parts) == 1 or any(p[:1] in "ーｰ" for p in parts[1:]):
        return _fold(s)
    return "".join(_fold(p) for p in parts)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pause(point: str) -> None:
    if os.environ.get(PAUSE_ENV) == point:
        print(f"MADOGUCHI_IMPORT_PAUSED {point}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get(PAUSE_ENV + "_SECONDS", "60")))


def read_manifest(folder: Path, mapping: Mapping) -> Manifest | None:
    p = folder / mapping.manifest_path
    if not p.exists():
        if mapping.manifest == "required":
            raise ImportFailed(f"{p.name} がありません。基幹系の出力が途中で終わっていないか確認してください"
                               f"（フォルダ: {folder}）。")
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{p.name} が JSON として読めません: {exc}") from None
    if not isinstance(data, dict):
        raise ImportFailed(f"{p.name} の形式が正しくありません。")
    kind = str(data.get("kind", "full"))
    if kind != "full":
        raise ImportFailed(f"{p.name} の種類「{kind}」には対応していません（全件出力 full のみ取り込めます）。")
    raw = data.get("files", {})
    files: dict[str, tuple[int | None, str | None]] = {}
    items = raw.items() if isinstance(raw, dict) else ((e.get("name") or e.get("path"), e) for e in raw)
    for name, e in items:
        if not isinstance(e, dict) or not name:
            raise ImportFailed(f"{p.name} のファイル一覧の形式が正しくありません。")
        rows = e.get("rows", e.get("row_count", e.get("records")))
        files[str(name)] = (int(rows) if rows is not None else None, e.get("sha256"))
    return Manifest(str(data.get("export_id", data.get("id", ""))), str(data.get("created_at", "")), kind,
                    files)


def _staged_rows(kind: str, reader: FileReader, towns: dict[str, tuple[str, str, str]]) -> Iterator[tuple]:
    """Staging rows of one file: the mapped fields, derived search keys (residents), the line number."""
    if kind != "residents":
        for line, _raw, v in reader:
            yield (*v, line)
        return
    names = [f.name for f in reader.fm.fields]
    i_kana, i_akana = names.index("name_kana"), names.index("alias_kana")
    i_town, i_banchi, i_kata = names.index("town_code"), names.index("banchi"), names.index("katagaki")
    for line, _raw, v in reader:
        town = towns.get(v[i_town])
        addr = (town[0] if town else "") + v[i_banchi] + v[i_kata]
        yield (*v, _fold_name(v[i_kana]), _fold_name(v[i_akana]), _fold(addr), line)


def _parse_chunk(job: tuple) -> dict:
    """Worker process: parse bytes [start, end) of a file into a COPY-ready CSV file."""
    path, fm, kind, start, end, line_base, header, towns, out_path = job
    issues: list[Issue] = []
    reader = FileReader(Path(path), fm, issues.append, start=start, end=end, line_base=line_base, header=header)
    n = 0
    with open(out_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        for row in _staged_rows(kind, reader, towns):
            w.writerow(row)
            n += 1
    return {"out": out_path, "records": reader.records, "bad": reader.bad, "loaded": n, "issues": issues}


def _chunks(path: Path, data_start: int, parts: int, first_line: int, csv_quotes: bool) -> list[tuple]:
    """Split a file at record boundaries: a newline outside quotes (even number of '"' before it).

    Returns (start, end, line_base) per chunk. Reads the file once in blocks (no mmap: its pages
    would count as this process's memory)."""
    size = path.stat().st_size
    span = max(1, (size - data_start) // parts)
    targets = [data_start + k * span for k in range(1, parts)]
    bounds = [(data_start, first_line)]
    quotes, lines, pos, ti, seeking = 0, first_line, data_start, 0, False
    with open(path, "rb") as fh:
        fh.seek(data_start)
        while ti < len(targets):
            block = fh.read(1 << 22)
            if not block:
                break
            i = 0
            while ti < len(targets):
                if not seeking:
                    t = targets[ti] - pos
                    if t >= len(block):
                        break
                    if t > i:
                        quotes += block.count(b'"', i, t)
                        lines += block.count(b"\n", i, t)
                        i = t
                    seeking = True
                j = block.find(b"\n", i)
                if j < 0:
                    break
                quotes += block.count(b'"', i, j + 1)
                lines += 1
                i = j + 1
                if not csv_quotes or quotes % 2 == 0:
                    seeking = False
                    if pos + i < size:
                        bounds.append((pos + i, lines))
                    while ti < len(targets) and targets[ti] <= pos + i:
                        ti += 1
            quotes += block.count(b'"', i)
            lines += block.count(b"\n", i)
            pos += len(block)
    return [(start, bounds[k + 1][0] if k + 1 < len(bounds) else None, base)
            for k, (start, base) in enumerate(bounds)]


class _Writer:
    """Bulk rows into one staging table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, conn: Connection, table: Table) -> None:
        self.conn = conn
        self.table = table
        self.cols = [c.name for c in table.c]
        self.pg = conn.dialect.name == "postgresql"
        self.rows: list[tuple] = []
        self.buf = io.StringIO()
        self.w = csv.writer(self.buf, lineterminator="\n")
        self.n = 0

    def __enter__(self) -> _Writer:
        if self.pg:
            text_cols = [c.name for c in self.table.c if isinstance(c.type, String)]
            force = f", FORCE_NOT_NULL ({', '.join(text_cols)})" if text_cols else ""
            raw = self.conn.connection.driver_connection
            self._cur = raw.cursor()
            self._copy_cm = self._cur.copy(
                f"COPY {self.table.name} ({', '.join(self.cols)}) FROM STDIN (FORMAT csv{force})")
            self._copy = self._copy_cm.__enter__()
        else:
            self._sql = (f"INSERT INTO {self.table.name} ({', '.join(self.cols)}) "
                         f"VALUES ({', '.join('?' for _ in self.cols)})")
        return self

    def add(self, row: tuple) -> None:
        self.n += 1
        if self.pg:
            self.w.writerow(row)
            if self.buf.tell() > (1 << 20):
                self._flush()
        else:
            self.rows.append(row)
            if len(self.rows) >= BATCH:
                self._flush()

    def write_raw(self, data: bytes) -> None:
        """COPY-ready CSV bytes made elsewhere (parallel parsing; PostgreSQL only)."""
        self._copy.write(data)

    def _flush(self) -> None:
        if self.pg:
            self._copy.write(self.buf.getvalue().encode("utf-8"))
            self.buf.seek(0)
            self.buf.truncate()
        elif self.rows:
            self.conn.exec_driver_sql(self._sql, self.rows)
            self.rows = []

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            self._flush()
        if self.pg:
            self._copy_cm.__exit__(exc_type, exc, tb)
            self._cur.close()


# --- the import --------------------------------------------------------------------------------


class _Load:
    def __init__(self, engine: Engine, folder: Path, mapping: Mapping, actor: str,
                 progress: Progress | None, today: date, workers: int | None = None) -> None:
        self.engine = engine
        # Parallel parsing of big files (PostgreSQL only): None = automatic (CPU count, at most 4,
        # files from PARALLEL_MIN_BYTES on); a number = that many processes for every file.
        self.force_parallel = workers is not None
        self.workers = workers if workers is not None else int(
            os.environ.get("MADOGUCHI_IMPORT_WORKERS", min(4, os.cpu_count() or 1)))
        self.folder = folder
        self.mapping = mapping
        self.actor = actor
        self.progress = progress or (lambda stage, done, total: None)
        self.today = today
        self.pg = engine.dialect.name == "postgresql"
        self.issues: list[Issue] = []
        self.counts: dict[str, dict] = {}
        self.run_id = 0
        self.conn: Connection
        self.manifest: Manifest | None = None
        self.present: set[str] = set()
        self.t0 = time.monotonic()

    # -- SQL helpers --
    def x(self, sql: str, **params: object):  # noqa: ANN201
        if not TRACE:
            return self.conn.execute(text(sql), params)
        t = time.perf_counter()
        r = self.conn.execute(text(sql), params)
        print(f"{time.perf_counter() - t:8.3f}s {' '.join(sql.split())[:150]}", file=sys.stderr)
        return r

    def nsame(self, a: str, b: str) -> str:
        return f"{a} IS NOT DISTINCT FROM {b}" if self.pg else f"{a} IS {b}"

    def same(self, la: str, sa: str, cols: Iterable[str], nullable: set[str]) -> str:
        return " AND ".join(self.nsame(f"{la}.{c}", f"{sa}.{c}") if c in nullable else f"{la}.{c} = {sa}.{c}"
                            for c in cols)

    @staticmethod
    def held(alias: str, tbls: Iterable[str]) -> str:
        names = ", ".join(f"'{t}'" for t in tbls)
        return f"NOT EXISTS (SELECT 1 FROM stg_held h WHERE h.atena_no = {alias}.atena_no AND h.tbl IN ({names}))"

    def add_issue(self, issue: Issue) -> None:
        if len(self.issues) < MAX_ISSUES_KEPT:
            self.issues.append(issue)

    # -- steps --
    def start(self) -> None:
        self.conn = self.engine.connect()
        if self.pg:
            # Wait a little: a killed loader's session may take a moment to end on the server.
            deadline = time.monotonic() + LOCK_WAIT
            while not (got := self.x("SELECT pg_try_advisory_lock(hashtext('madoguchi-import'))").scalar()):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            if not got:
                self.conn.close()
                raise ImportFailed("別の取込が実行中です。終わってからもう一度実行してください。")
            self.x("SET TimeZone = 'Asia/Tokyo'")
            # Staging lives in temp tables (local buffers) and the merge is hash joins over whole
            # rows: the defaults (8 MB / 4 MB) make a 1M-resident load spill to disk again and again.
            self.x(f"SET temp_buffers = '{PG_TEMP_BUFFERS}'")
            self.x(f"SET work_mem = '{PG_WORK_MEM}'")
            self.x(f"SET maintenance_work_mem = '{PG_WORK_MEM}'")
        # A run still marked running was killed (we hold the lock now): say so.
        self.conn.execute(update(ImportRun).where(ImportRun.outcome == "running").values(
            outcome="failed", finished_at=datetime.now(timezone.utc),
            message="取込が途中で止まりました（プロセスの強制終了など）。前回のデータはそのままです。"))
        self.run_id = self.conn.execute(insert(ImportRun).values(
            kind="full", source=str(self.folder), actor=self.actor, started_at=datetime.now(timezone.utc),
            outcome="running", counts={}, changes={}, quarantined=0, export_id="", message="",
        ).returning(ImportRun.id)).scalar_one()
        self.conn.commit()

    def check_files(self) -> None:
        self.progress("マニフェスト確認", 0, None)
        m = self.manifest = read_manifest(self.folder, self.mapping)
        for kind in ORDER:
            fm = self.mapping.files.get(kind)
            if fm is None:
                continue
            path = self.folder / fm.path
            if not path.exists():
                if not fm.optional or (m and fm.path in m.files):
                    raise ImportFailed(f"{fm.path} がありません（フォルダ: {self.folder}）。")
                continue
            self.present.add(kind)
            digest = _sha256(path)
            self.counts[kind] = {"file": fm.path, "sha256": digest, "rows": 0, "loaded": 0, "quarantined": 0}
            if m is None:
                continue
            if fm.path not in m.files:
                raise ImportFailed(f"{fm.path} が {self.mapping.manifest_path} に載っていません。"
                                   "基幹系の出力をやり直してください。")
            want = m.files[fm.path][1]
            if want and want.lower() != digest:
                raise ImportFailed(f"{fm.path} の内容がマニフェストの SHA-256 と一致しません。転送途中で壊れたか、"
                                   "出力後に書き換えられています。基幹系の出力をやり直してください。")
        if "residents" not in self.present:
            raise ImportFailed("住民ファイル（residents）がありません。")
        if m is not None:
            self.conn.execute(update(ImportRun).where(ImportRun.id == self.run_id).values(export_id=m.export_id[:100]))
            self.conn.commit()

    def stage(self) -> None:
        for t in ALL_STAGING:
            self.x(f"DROP TABLE IF EXISTS {t.name}")
            t.create(self.conn)
        towns: dict[str, tuple[str, str, str]] = {}
        if "addresses" not in self.present:
            towns = {r[0]: (r[1], r[2], r[3]) for r in
                     self.x("SELECT town_code, name, kana, postal_code FROM towns")}
        self.town_names = towns
        for kind in ORDER:
            if kind not in self.present:
                continue
            fm = self.mapping.files[kind]
            total = None
            if self.manifest and fm.path in self.manifest.files:
                total = self.manifest.files[fm.path][0]
            label = f"読込 {fm.path}"
            self.progress(label, 0, total)
            path = self.folder / fm.path
            if kind in ("residents", "qualifications") and self._parallel(path, fm):
                records, loaded, bad = self._stage_parallel(kind, path, fm, towns, label, total)
            else:
                reader = FileReader(path, fm, self.add_issue)
                with _Writer(self.conn, STAGING[kind]) as w:
                    for row in _staged_rows(kind, reader, towns):
                        w.add(row)
                        if kind == "addresses":
                            towns.setdefault(row[0], (row[1], row[2], row[5]))
                        elif w.n % 20000 == 0:
                            self.progress(label, reader.records, total)
                records, loaded, bad = reader.records, w.n, reader.bad
            if kind == "addresses":
                with _Writer(self.conn, STG_TOWNS) as tw:
                    for code, (name, kana, postal) in towns.items():
                        tw.add((code, name, kana, _fold(kana), postal))
            self.progress(label, records, total)
            c = self.counts[kind]
            c["rows"], c["loaded"], c["quarantined"] = records, loaded, bad
            if total is not None and total != records:
                raise ImportFailed(
                    f"{fm.path} の行数がマニフェストと違います（マニフェスト {total} 行、読めた行 {records} 行）。"
                    "ファイルが途中で切れているか、引用符（\"）の閉じ忘れで行がつながっています。")
        kind_of = {Path(c["file"]).name: k for k, c in self.counts.items()}
        held = [(HOLDABLE[kind_of[i.file]], i.key) for i in self.issues
                if i.key and kind_of.get(i.file) in HOLDABLE]
        if held:
            self.conn.execute(insert(STG_HELD), [{"tbl": t, "atena_no": a} for t, a in held])
        for stmt in ("CREATE INDEX ix_stg_res_atena ON stg_residents (atena_no)",
                     "CREATE INDEX ix_stg_q_atena ON stg_qualifications (atena_no)",
                     "CREATE INDEX ix_stg_sm_atena ON stg_support_measures (atena_no)",
                     "CREATE INDEX ix_stg_held ON stg_held (atena_no)",
                     "CREATE INDEX ix_stg_addr ON stg_addresses (town_code, banchi)"):
            self.x(stmt)
        if self.pg:
            for t in ALL_STAGING:
                self.x(f"ANALYZE {t.name}")
        self.conn.commit()

    def _parallel(self, path: Path, fm) -> bool:  # noqa: ANN001
        """Big files on PostgreSQL are parsed by several processes (COPY reads their output)."""
        if not self.pg or self.workers < 2:
            return False
        if fm.format == "csv" and not fm.header:
            return False
        return self.force_parallel or path.stat().st_size >= PARALLEL_MIN_BYTES

    def _stage_parallel(self, kind: str, path: Path, fm, towns: dict, label: str,  # noqa: ANN001
                        total: int | None) -> tuple[int, int, int]:
        probe = FileReader(path, fm, self.add_issue)
        if fm.format == "csv":
            header, data_start = probe.read_header()
            probe._plan(header)  # a missing required column fails here, before the workers start
            first_line = 1
        else:
            header, data_start, first_line = None, 0, 0
        chunks = _chunks(path, data_start, self.workers * 4, first_line, fm.format == "csv")
        tmp = tempfile.mkdtemp(prefix="madoguchi-import-")
        jobs = [(str(path), fm, kind, start, end, base, header, towns, os.path.join(tmp, f"{i}.csv"))
                for i, (start, end, base) in enumerate(chunks)]
        records = loaded = bad = 0
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        try:
            with ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool, \
                    _Writer(self.conn, STAGING[kind]) as w:
                for res in pool.map(_parse_chunk, jobs):  # in file order
                    with open(res["out"], "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            w.write_raw(block)
                    os.unlink(res["out"])
                    for issue in res["issues"]:
                        self.add_issue(issue)
                    records += res["records"]
                    loaded += res["loaded"]
                    bad += res["bad"]
                    self.progress(label, records, total)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return records, loaded, bad

    def _sql_issues(self, file_kind: str, sql: str, reason: Callable[[tuple], str], column: str,
                    hold: str | None, **params: object) -> list[tuple]:
        rows = sorted(self.x(sql, **params), key=lambda r: r[0])
        if not rows:
            return rows
        name = self.counts[file_kind]["file"]
        for r in rows:
            self.add_issue(Issue(name, int(r[0]), column, reason(r), "", str(r[1])))
        self.counts[file_kind]["quarantined"] += len(rows)
        if hold:
            self.conn.execute(insert(STG_HELD), [{"tbl": hold, "atena_no": r[1]} for r in rows])
        return rows

    def validate(self) -> None:
        self.progress("検証", 0, None)
        p = self.present
        if "addresses" in p:
            self._sql_issues("addresses", """
                DELETE FROM stg_addresses WHERE EXISTS (SELECT 1 FROM stg_addresses b WHERE
                  b.town_code = stg_addresses.town_code AND b.banchi = stg_addresses.banchi
                  AND b.line < stg_addresses.line) RETURNING line, town_code, banchi""",
                lambda r: f"町字コード「{r[1]}」番地「{r[2]}」が前の行と重複しています。この行は取り込みません。",
                "town_code, banchi", None)
        if "katagaki" in p:
            self._sql_issues("katagaki", """
                DELETE FROM stg_katagaki WHERE EXISTS (SELECT 1 FROM stg_katagaki b WHERE
                  b.town_code = stg_katagaki.town_code AND b.banchi = stg_katagaki.banchi
                  AND b.katagaki = stg_katagaki.katagaki AND b.line < stg_katagaki.line)
                RETURNING line, town_code, katagaki""",
                lambda r: f"方書「{r[2]}」が前の行と重複しています。この行は取り込みません。", "katagaki", None)
            if "addresses" in p:
                self._sql_issues("katagaki", "DELETE FROM stg_katagaki WHERE NOT EXISTS (SELECT 1 FROM stg_addresses a "
                                 "WHERE a.town_code = stg_katagaki.town_code AND a.banchi = stg_katagaki.banchi) "
                                 "RETURNING line, town_code, banchi",
                                 lambda r: f"町字コード「{r[1]}」番地「{r[2]}」が住所マスタ（addresses）にありません。",
                                 "town_code, banchi", None)
        # residents: duplicate atena_no (all rows of that number are held at the previous state)
        self._sql_issues("residents", """
            SELECT line, atena_no FROM stg_residents WHERE atena_no IN (
              SELECT atena_no FROM stg_residents GROUP BY atena_no HAVING COUNT(*) > 1) ORDER BY line""",
            lambda r: f"宛名番号「{r[1]}」が複数の行にあります。この人は前回の内容のままにします。", "atena_no",
            "persons")
        town_src = "stg_towns" if "addresses" in p else "towns"
        if "addresses" in p or self.town_names:
            self._sql_issues("residents", f"""
                SELECT line, atena_no, town_code FROM stg_residents s WHERE s.town_code <> ''
                AND NOT EXISTS (SELECT 1 FROM {town_src} t WHERE t.town_code = s.town_code) ORDER BY line""",
                lambda r: f"町字コード「{r[2]}」が住所マスタにありません。この人は前回の内容のままにします。",
                "town_code", "persons")
        if "qualifications" in p:
            self._sql_issues("qualifications", """
                SELECT q.line, q.atena_no, q.kind FROM stg_qualifications q WHERE EXISTS (
                  SELECT 1 FROM stg_qualifications b WHERE b.atena_no = q.atena_no AND b.kind = q.kind
                  AND """ + self.nsame("b.start_date", "q.start_date") + " AND b.line <> q.line)",
                lambda r: f"宛名番号「{r[1]}」の資格「{r[2]}」が同じ開始日で重複しています。"
                          "この人の資格は前回の内容のままにします。", "atena_no, kind, start_date", "qualifications")
            self._orphans("qualifications", "資格")
        if "support_measures" in p:
            self._sql_issues("support_measures", """
                SELECT m.line, m.atena_no FROM stg_support_measures m WHERE EXISTS (
                  SELECT 1 FROM stg_support_measures b WHERE b.atena_no = m.atena_no
                  AND """ + self.nsame("b.start_date", "m.start_date") + """ AND b.line <> m.line) ORDER BY line""",
                lambda r: f"宛名番号「{r[1]}」の支援措置が同じ開始日で重複しています。安全のため住所を制限します。",
                "atena_no, start_date", "support_measures")
            self._orphans("support_measures", "支援措置")
        self.conn.commit()

    def _orphans(self, kind: str, label: str) -> None:
        # Rows of a person whose own row was bad are held with that person, not reported twice.
        self._sql_issues(kind, f"DELETE FROM stg_{kind} WHERE NOT EXISTS (SELECT 1 FROM stg_residents r WHERE "
                         f"r.atena_no = stg_{kind}.atena_no) AND NOT EXISTS (SELECT 1 FROM stg_held h WHERE "
                         f"h.tbl = 'persons' AND h.atena_no = stg_{kind}.atena_no) RETURNING line, atena_no",
                         lambda r: f"宛名番号「{r[1]}」が住民ファイルにありません。この{label}の行は取り込みません。",
                         "atena_no", None)

    # -- the swap --
    def merge(self, live: str, src: str, cols: list[str], nullable: set[str], hold: tuple[str, ...] = (),
              extra: dict[str, str] | None = None) -> tuple[int, int]:
        extra = extra or {}
        hl = f" AND {self.held(live, hold)}" if hold else ""
        hs = f" AND {self.held('s', hold)}" if hold else ""
        deleted = self.x(f"DELETE FROM {live} WHERE NOT EXISTS (SELECT 1 FROM {src} s WHERE "
                         f"{self.same(live, 's', cols, nullable)}){hl}").rowcount
        ins_cols = cols + list(extra)
        sel = ", ".join([f"s.{c}" for c in cols] + list(extra.values()))
        inserted = self.x(f"INSERT INTO {live} ({', '.join(ins_cols)}) SELECT {sel} FROM {src} s WHERE NOT EXISTS "
                          f"(SELECT 1 FROM {live} l WHERE {self.same('l', 's', cols, nullable)}){hs}",
                          run=self.run_id).rowcount
        return deleted, inserted

    def diff(self) -> dict[str, int]:
        """Compare staging with the live persons once (one join) into stg_diff; derive the changes."""
        hs, hp = self.held("s", ("persons",)), self.held("p", ("persons",))
        pcols, acols, nullable = self._person_cols()
        self.x("INSERT INTO stg_diff (atena_no, s_status, p_status, same_person, same_addr, moved) "
               "SELECT s.atena_no, s.status, p.status, "
               f"CASE WHEN p.atena_no IS NOT NULL AND {self.same('p', 's', pcols, nullable)} THEN 1 ELSE 0 END, "
               f"CASE WHEN a.atena_no IS NOT NULL AND {self.same('a', 's', acols, nullable)} THEN 1 ELSE 0 END, "
               "CASE WHEN a.atena_no IS NOT NULL AND (a.town_code <> s.town_code OR a.banchi <> s.banchi "
               "OR a.katagaki <> s.katagaki) THEN 1 ELSE 0 END "
               "FROM stg_residents s LEFT JOIN persons p ON p.atena_no = s.atena_no "
               f"LEFT JOIN person_addresses a ON a.atena_no = s.atena_no WHERE {hs}")
        self.x("INSERT INTO stg_diff (atena_no, s_status, p_status, same_person, same_addr, moved) "
               "SELECT p.atena_no, NULL, p.status, 0, 0, 0 FROM persons p WHERE NOT EXISTS "
               f"(SELECT 1 FROM stg_residents s WHERE s.atena_no = p.atena_no) AND {hp}")
        self.x("INSERT INTO stg_diff (atena_no, s_status, p_status, same_person, same_addr, moved) "
               "SELECT a.atena_no, NULL, NULL, 1, 0, 0 FROM person_addresses a WHERE NOT EXISTS "
               "(SELECT 1 FROM stg_residents s WHERE s.atena_no = a.atena_no) AND NOT EXISTS "
               f"(SELECT 1 FROM persons p WHERE p.atena_no = a.atena_no) AND {self.held('a', ('persons',))}")
        if self.pg:
            self.x("ANALYZE stg_diff")
        self.x("INSERT INTO import_changes (run_id, atena_no, change) SELECT :run, atena_no, change FROM ("
               "SELECT atena_no, CASE "
               "WHEN s_status = '1' AND (p_status IS NULL OR p_status <> '1') THEN 'new' "
               "WHEN p_status = '1' AND (s_status IS NULL OR s_status <> '1') THEN 'removed' "
               "WHEN s_status = '1' AND p_status = '1' AND moved = 1 THEN 'moved' "
               "WHEN s_status IS NOT NULL AND p_status IS NOT NULL AND (same_person = 0 OR same_addr = 0) "
               "THEN 'changed' END AS change FROM stg_diff) d WHERE change IS NOT NULL", run=self.run_id)
        rows = self.x("SELECT change, COUNT(*) FROM import_changes WHERE run_id = :run GROUP BY change",
                      run=self.run_id)
        out = {"new": 0, "moved": 0, "changed": 0, "removed": 0}
        out.update({k: int(v) for k, v in rows})
        return out

    def replace_rows(self, live: str, cols: list[str], flag: str, extra: dict[str, str]) -> tuple[int, int]:
        """Persons and their addresses: replace exactly the rows stg_diff marks as different."""
        deleted = self.x(f"DELETE FROM {live} WHERE atena_no IN "
                         f"(SELECT atena_no FROM stg_diff WHERE {flag} = 0)").rowcount
        sel = ", ".join([f"s.{c}" for c in cols] + list(extra.values()))
        inserted = self.x(f"INSERT INTO {live} ({', '.join(cols + list(extra))}) SELECT {sel} FROM stg_residents s "
                          f"WHERE s.atena_no IN (SELECT atena_no FROM stg_diff WHERE {flag} = 0 "
                          "AND s_status IS NOT NULL)", run=self.run_id).rowcount
        return deleted, inserted

    @staticmethod
    def _person_cols() -> tuple[list[str], list[str], set[str]]:
        skip = {"restricted", "import_run_id"}
        pcols = [c.name for c in PersonRow.__table__.c if c.name not in skip]
        acols = [c.name for c in PersonAddressRow.__table__.c if c.name not in skip]
        nullable = {c.name for t in (PersonRow, PersonAddressRow) for c in t.__table__.c if c.nullable}
        return pcols, acols, nullable

    def swap(self) -> dict:
        self.progress("差し替え", 0, None)
        p = self.present
        tables: dict[str, list[int]] = {}
        changes = self.diff()
        f, t = "FALSE", "TRUE"
        if "addresses" in p:
            tables["towns"] = list(self.merge("towns", "stg_towns", ["town_code", "name", "kana", "kana_key",
                                                                     "postal_code"], set()))
            tables["banchi"] = list(self.merge("banchi", "stg_addresses", ["town_code", "banchi", "banchi_kana",
                                                                           "postal_code", "district"], set()))
        if "katagaki" in p:
            tables["katagaki"] = list(self.merge("katagaki", "stg_katagaki",
                                                 ["town_code", "banchi", "katagaki", "katagaki_kana"], set()))
        pcols, acols, nullable = self._person_cols()
        tables["persons"] = list(self.replace_rows("persons", pcols, "same_person",
                                                   {"restricted": f, "import_run_id": ":run"}))
        tables["person_addresses"] = list(self.replace_rows("person_addresses", acols, "same_addr",
                                                            {"restricted": f}))
        dates = {"start_date", "end_date"}
        if "qualifications" in p:
            tables["qualifications"] = list(self.merge(
                "qualifications", "stg_qualifications", ["atena_no", "kind", "role", "start_date", "end_date", "detail"],
                dates, ("persons", "qualifications")))
        if "support_measures" in p:
            tables["support_measures"] = list(self.merge(
                "support_measures", "stg_support_measures", ["atena_no", "kind", "start_date", "end_date", "note"],
                dates, ("persons", "support_measures")))
        # 支援措置: restricted while a measure is current on the load date; a measure row that could not
        # be read restricts too (fail safe).
        current = ("SELECT atena_no FROM support_measures WHERE (start_date IS NULL OR start_date <= :today) "
                   "AND (end_date IS NULL OR end_date >= :today) UNION SELECT atena_no FROM stg_held "
                   "WHERE tbl = 'support_measures'")
        today = self.today if self.pg else self.today.isoformat()
        flips = 0
        for tbl in ("persons", "person_addresses"):
            flips += self.x(f"UPDATE {tbl} SET restricted = {t} WHERE restricted = {f} AND atena_no IN ({current})",
                            today=today).rowcount
            flips += self.x(f"UPDATE {tbl} SET restricted = {f} WHERE restricted = {t} AND atena_no NOT IN ({current})",
                            today=today).rowcount
        return {"persons": changes, "tables": tables, "restricted_updates": flips}

    def previous_ok(self):  # noqa: ANN201
        return self.conn.execute(select(ImportRun.export_id, ImportRun.counts).where(ImportRun.outcome.in_(("ok", "unchanged")),
                                                         ImportRun.id != self.run_id)
                                 .order_by(ImportRun.id.desc()).limit(1)).first()

    def finish(self, outcome: str, message: str, changes: dict) -> None:
        self.conn.execute(update(ImportRun).where(ImportRun.id == self.run_id).values(
            outcome=outcome, message=message, finished_at=datetime.now(timezone.utc), counts=self.counts,
            changes={**changes, "seconds": round(time.monotonic() - self.t0, 2)}, quarantined=len(self.issues)))
        self._write_issues()

    def _write_issues(self) -> None:
        rows = [{"run_id": self.run_id, "file": i.file[:200], "line": i.line, "column": i.column[:100],
                 "reason": i.reason, "raw": i.raw} for i in self.issues]
        for k in range(0, len(rows), BATCH):
            self.conn.execute(insert(ImportIssue), rows[k:k + BATCH])

    def drop_staging(self) -> None:
        for t in ALL_STAGING:
            self.x(f"DROP TABLE IF EXISTS {t.name}")
        if self.pg:
            for setting in ("TimeZone", "work_mem", "maintenance_work_mem"):
                self.x(f"RESET {setting}")
            self.x("SELECT pg_advisory_unlock(hashtext('madoguchi-import'))")
        self.conn.commit()

    def fail(self, message: str) -> None:
        """Record a failed run in its own transaction (the load itself was rolled back)."""
        try:
            self.conn.rollback()
            self.finish("failed", message, {})
            self.conn.commit()
            self.drop_staging()
        finally:
            self.conn.close()

    def run(self) -> ImportResult:
        self.check_files()
        self.stage()
        _pause("after_staging")
        self.validate()
        if self.issues and self.mapping.bad_rows == "abort":
            first = self.issues[0].text()
            raise ImportFailed(f"不正な行が {len(self.issues)} 件あるため取込を中止しました（最初の1件: {first}）。"
                               "前回のデータはそのままです。詳しくは取込結果の一覧（import_issues）を見てください。")
        prev = self.previous_ok()
        same = bool(prev and self.manifest and prev.export_id == self.manifest.export_id and all(
            (prev.counts or {}).get(k, {}).get("sha256") == c["sha256"] for k, c in self.counts.items()))
        changes = self.swap()
        touched = sum(sum(v) for v in changes["tables"].values()) + changes["restricted_updates"]
        outcome = "ok" if touched else "unchanged"
        pc = changes["persons"]
        if outcome == "unchanged":
            message = ("前回の取込と同じ内容のため、変更はありません。" if same
                       else "データに変更はありませんでした。")
        else:
            message = (f"取込が完了しました（転入等 {pc['new']} 人、住所変更 {pc['moved']} 人、"
                       f"その他の変更 {pc['changed']} 人、消除等 {pc['removed']} 人）。")
        if self.issues:
            message += f" 不正な行 {len(self.issues)} 件は取り込まず、該当者は前回の内容のままです。"
        self.finish(outcome, message, changes)
        _pause("in_swap")
        self.conn.commit()
        self.progress("完了", 1, 1)
        return ImportResult(self.run_id, outcome, message, self.manifest.export_id if self.manifest else "",
                            self.counts, changes, self.issues, time.monotonic() - self.t0, same)


def import_export(db_or_engine: object, folder: str | Path, mapping: Mapping | str | Path | None = None,
                  actor: str = "", progress: Progress | None = None, today: date | None = None,
                  workers: int | None = None) -> ImportResult:
    """Load one export folder. Raises ImportFailed (Japanese message) and leaves the data untouched.

    `progress(stage, done, total)` is called as files are read; `workers` sets the number of parsing
    processes on PostgreSQL (None: automatic, 1: in-process)."""
    engine: Engine = getattr(db_or_engine, "engine", db_or_engine)  # Database or Engine
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping) if mapping is not None else default_mapping()
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportFailed(f"取込フォルダ {folder} がありません。")
    load = _Load(engine, folder, mapping, actor, progress, today or date.today(), workers)
    load.start()
    try:
        result = load.run()
    except ImportFailed as exc:
        load.fail(exc.message)
        raise
    except Exception as exc:
        msg = f"取込中に予期しないエラーが起きました。前回のデータはそのままです（{type(exc).__name__}: {exc}）。"
        load.fail(msg[:2000])
        raise ImportFailed(msg, detail=repr(exc)) from exc
    try:
        load.drop_staging()
    finally:
        load.conn.close()
    result.duration = time.monotonic() - load.t0
    return result


def last_import_summary(session: Session, now: datetime | None = None, stale_after: timedelta = timedelta(days=2)) -> str:
    """The status-bar text: 「基幹系データ: 2026-11-24 06:00 取込」 (+ a warning when stale or failing)."""
    ok = session.execute(select(ImportRun).where(ImportRun.outcome.in_(("ok", "unchanged")))
                         .order_by(ImportRun.id.desc()).limit(1)).scalar_one_or_none()
    if ok is None:
        return "基幹系データ: 未取込"
    at = ok.finished_at or ok.started_at
    if at.tzinfo is None:  # SQLite keeps naive UTC
        at = at.replace(tzinfo=timezone.utc)
    at = at.astimezone(JST)
    out = f"基幹系データ: {at:%Y-%m-%d %H:%M} 取込"
    now = now or datetime.now(timezone.utc)
    if now - at > stale_after:
        out += f"（{(now - at).days}日前・更新が止まっています）"
    failed = session.execute(select(ImportRun.id).where(ImportRun.outcome == "failed", ImportRun.id > ok.id)
                             .limit(1)).first()
    if failed:
        out += "（最新の取込は失敗）"
    return out
