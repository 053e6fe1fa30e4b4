"""Load a core-system (基幹系) export into the database: manifest → staging → validate → swap,
first for the address master and residents (MASTERS), then for the files per person (DETAILS).

One code path for PostgreSQL and SQLite; only the bulk writes differ (`COPY` through psycopg 3 vs
`executemany`; on PostgreSQL big files are read by several processes and their output is COPYed
in file order). The swap is one transaction, from the first write of MASTERS to the commit after
DETAILS (the detail files are parsed by the worker processes while the masters are written). It
merges staging into the live tables: rows identical to the previous load are left alone,
changed/removed rows are deleted and new/changed rows inserted. Readers keep seeing the previous
data until the commit (no TRUNCATE, no table rename, so row-level security policies and grants
stay as they are), and a failed or killed load
leaves the previous data exactly as it was. (Only a table that was empty is filled with its indexes
and keys dropped, built again after the insert: readers of it wait for the commit.)

Two ways to stage a file, with the same outcome:
- **full**: every record is parsed and validated by `reader.FileReader` (the first load, or when
  the live table holds no record hashes yet, or `full=True`).
- **delta**: the nightly case. `records.scan` hashes every record without parsing it (in worker
  processes, running ahead of the database work); one join with the live rows' `source_hash`
  (`_classify`) finds the records without a live row of their hash and the live rows without such
  a record. Only those records are parsed, with the other rows of the same *locality key*: the
  person (atena_no) for residents and their qualifications, the 町字 and 番地 for the address
  master. Every check and merge then runs on those keys only. Each rule looks at one key's records
  at a time, plus the few dependencies between files that `_affect` adds (a renamed or removed 町字,
  a person who left), so restricting it to the touched keys gives the result of the full way —
  `tests/sync/test_delta_equals_full.py` holds the two ways to that.

Rows that break the rules become `import_issues`; under the `quarantine` policy the person they
belong to keeps their previous data (「前回の内容のまま」), under `abort` the whole load is rejected.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from psycopg import adapt, postgres, pq
from psycopg._copy_base import format_row_binary  # the C row formatter behind Copy.write_row (no public name)
from sqlalchemy import (BigInteger, Boolean, Column, Date, DateTime, Engine, Integer, MetaData, String, Table, Uuid, insert,
                        select, text, update)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from madoguchi.domain.jst import JST
from madoguchi.domain.kana import fold_kana
from madoguchi.errors import ImportFailed
from madoguchi.store.models import (Banchi, Code, ImportIssue, ImportRun, Katagaki, PersonAddressRow, PersonRow,
                                    QualificationRow, SupportMeasureRow)
from madoguchi.sync.mapping import CATALOGUE, FileMapping, Mapping, default_mapping, load_mapping
from madoguchi.sync.reader import FileReader, Issue
from madoguchi.sync.records import COPY_HEADER, COPY_TRAILER, guess_chunks, scan, unpack_rows

Progress = Callable[[str, int, "int | None"], None]
# Files are read in this order: the address master first (residents are checked against it). The
# files per person (DETAILS) are read after the masters are checked and written: on PostgreSQL the
# worker processes parse them meanwhile (a first load), where one core would otherwise sit idle
# while the database fills and indexes the persons.
MASTERS = ("addresses", "katagaki", "residents")
DETAILS = ("qualifications", "support_measures")
ORDER = (*MASTERS, *DETAILS)
# Staging index per file: name, key columns, whether a unique index proves the keys free of duplicates.
STAGING_KEYS = {"addresses": ("ix_stg_addr", "town_code, banchi", True),
                "residents": ("ix_stg_res_atena", "atena_no", True),
                "qualifications": ("ix_stg_q_atena", "atena_no, kind, start_date", True),
                "support_measures": ("ix_stg_sm_atena", "atena_no", False)}
HOLDABLE = {"residents": "persons", "qualifications": "qualifications", "support_measures": "support_measures"}
# Per file: the live table that keeps each row's record hash, and the columns of its locality key
# (delta mode): the records of one key are read, checked and merged together.
LIVE = {"addresses": "banchi", "katagaki": "katagaki", "residents": "person_addresses",
        "qualifications": "qualifications", "support_measures": "support_measures"}
KEYS = {"addresses": ("town_code", "banchi"), "katagaki": ("town_code", "banchi"), "residents": ("atena_no",),
        "qualifications": ("atena_no",), "support_measures": ("atena_no",)}
# Kinds whose unchanged rows of a touched key are taken from the live table instead of being read
# again (every staging column is a live column); they stand in staging with line = -id until an issue
# needs their real line.
FROM_LIVE = ("qualifications", "support_measures")
# A file checked against another one is read the full way whenever that one is.
UPSTREAM = {"katagaki": "addresses", "qualifications": "residents", "support_measures": "residents"}
# Part of every record hash: raise it when reading or deriving a field changes (kana keys …), so
# that the next load looks at every record again instead of trusting hashes of the old rules.
HASH_VERSION = 1
PAUSE_ENV = "MADOGUCHI_IMPORT_TEST_PAUSE"  # test hook: after_scan (residents) / after_staging / in_swap
FULL_ENV = "MADOGUCHI_IMPORT_FULL"  # "1": always the full way (comparison runs, troubleshooting)
MAX_ISSUES_KEPT = 100_000
BATCH = 5000
LOCK_WAIT = 10.0  # seconds
PARALLEL_MIN_BYTES = 2 << 20  # ranges smaller than this are read in-process
SCAN_PART_BYTES = 4 << 20  # hashing is cheap to hand out: parts of this size, small files too
REBUILD_MIN_ROWS = 20_000  # filling an empty table with more rows than this: build its indexes afterwards
TRACE = os.environ.get("MADOGUCHI_IMPORT_TRACE", "")  # per-statement timings on stderr ("plans": and plans)
PG_TEMP_BUFFERS = os.environ.get("MADOGUCHI_IMPORT_TEMP_BUFFERS", "")  # empty: sized from the export (_temp_buffers)
# The staging of a first load takes about twice the export's bytes (1M residents: 440 MB of files, 860
# MB of temp tables); what does not fit in temp_buffers is written out and read back again. Not more
# than needed: dropping a temp table walks every local buffer (a 20k nightly load: 20 ms at 512 MB,
# 85 ms at 2 GB).
TEMP_BUFFERS_PER_BYTE = 2.5
TEMP_BUFFERS_MIN_MB, TEMP_BUFFERS_MAX_MB = 512, 2048
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
_MODELS = {"residents": (PersonRow, PersonAddressRow), "qualifications": (QualificationRow,),
           "support_measures": (SupportMeasureRow,), "addresses": (Banchi,), "katagaki": (Katagaki,)}


def _coltype(kind: str, name: str):  # noqa: ANN202
    for m in _MODELS.get(kind, ()):
        if name in m.__table__.c:
            return m.__table__.c[name].type
    return String()


def _stg_table(kind: str) -> Table:
    names = [f.name for f in CATALOGUE[kind]] + (list(_RES_EXTRA) if kind == "residents" else [])
    cols = [Column(n, _coltype(kind, n)) for n in names] + [Column("line", Integer), Column("h", Uuid(as_uuid=False))]
    return Table(f"stg_{kind}", _STG_META, *cols, prefixes=["TEMPORARY"])


def _tmp(name: str, *cols: Column) -> Table:
    return Table(name, _STG_META, *cols, prefixes=["TEMPORARY"])


STAGING = {k: _stg_table(k) for k in ORDER}
# delta mode: every record's line, byte span and hash; the hashes that differ from the live rows
# (n: records in the file, lv: live rows, lkey: a live row's locality key); the touched keys.
INDEX = {k: _tmp(f"idx_{k}", Column("line", Integer), Column("off", BigInteger), Column("len", Integer),
                 Column("h", Uuid(as_uuid=False))) for k in ORDER}
CLASSES = {k: _tmp(f"cls_{k}", Column("h", Uuid(as_uuid=False)), Column("n", Integer), Column("lv", Integer),
                   Column("lkey", Code()), Column("line", Integer), Column("off", BigInteger), Column("len", Integer))
           for k in ORDER}
AFFECTED = {k: _tmp(f"aff_{k}", Column("key", Code())) for k in ORDER}
AFF_TOWNS = _tmp("aff_towns", Column("town", Code()))  # the 町字 of touched address keys
STG_TOWNS = _tmp("stg_towns", Column("town_code", Code()), Column("name", String), Column("kana", String),
                 Column("kana_key", String), Column("postal_code", String))
STG_DIFF = _tmp("stg_diff", Column("atena_no", Code()), Column("s_status", String), Column("p_status", String),
                Column("same_person", Integer), Column("same_addr", Integer), Column("moved", Integer))
STG_HELD = _tmp("stg_held", Column("tbl", String), Column("atena_no", Code()))
# The full way on PostgreSQL: the live rows and staging rows without an identical partner, and the
# pairs whose record hash differs (lid: live id, sline: staging line), from one join.
STG_MERGE = _tmp("stg_merge", Column("lid", BigInteger), Column("sline", Integer), Column("h", Uuid(as_uuid=False)))
ALL_STAGING = (*STAGING.values(), *INDEX.values(), *CLASSES.values(), *AFFECTED.values(), AFF_TOWNS, STG_TOWNS,
               STG_HELD, STG_DIFF, STG_MERGE)


# --- helpers ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=200_000)
def _fold(s: str) -> str:
    return fold_kana(s) if s else ""


def _fold_name(s: str) -> str:
    # Fold surname and given name separately: both repeat a lot, so the cache hits. A part that is
    # empty or starts with a long vowel mark depends on the part before it: then fold the whole.
    if not s:  # most residents have no 通称
        return ""
    parts = s.replace(" ", "\u3000").split("\u3000")
    if len(parts) == 2:  # the usual 姓　名
        return _fold(s) if parts[1][:1] in "ーｰ" else _fold(parts[0]) + _fold(parts[1])
    if len(parts) == 1 or any(p[:1] in "ーｰ" for p in parts[1:]):
        return _fold(s)
    return "".join(_fold(p) for p in parts)


# A part of an address beginning with one of these folds the same alone as after the part before it:
# no long vowel mark, voiced sound mark, combining character or space that would look back across.
_STANDS_ALONE = re.compile("[0-9A-Za-z\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fff\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def _fold_address(town: str, banchi: str, katagaki: str) -> str:
    """fold_kana(town + banchi + katagaki), from the folds of the three parts where that is the same:
    the 町字 and the 番地 repeat, the whole address seldom does (the cache would miss at every household)."""
    match = _STANDS_ALONE.match
    if (not banchi or match(banchi)) and (not katagaki or match(katagaki)):
        return _fold(town) + _fold(banchi) + _fold(katagaki)
    return _fold(town + banchi + katagaki)


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
    """Staging rows of one file: the mapped fields, derived search keys (residents), line, hash."""
    if kind != "residents":
        for line, h, v in reader:
            yield (*v, line, h)
        return
    names = [f.name for f in reader.fm.fields]
    i_kana, i_akana = names.index("name_kana"), names.index("alias_kana")
    i_town, i_banchi, i_kata = names.index("town_code"), names.index("banchi"), names.index("katagaki")
    for line, h, v in reader:
        town = towns.get(v[i_town])
        yield (*v, _fold_name(v[i_kana]), _fold_name(v[i_akana]),
               _fold_address(town[0] if town else "", v[i_banchi], v[i_kata]), line, h)


@dataclass
class _Part:
    """The outcome of reading one part of a file (a worker's output file, or counts in-process)."""

    start: int
    stop: int
    stop_line: int
    out: str = ""
    records: int = 0
    loaded: int = 0
    bad: int = 0
    issues: list[Issue] = field(default_factory=list)


def _binary_row_writer(table: Table) -> Callable[[tuple, bytearray], None]:
    """Staging rows in PostgreSQL's binary COPY format, formatted by psycopg's C code: the server
    then reads a date, a timestamp or a hash as the bytes it keeps instead of parsing text (the COPY
    of qualification rows costs it less than half as much). Formatting costs the worker about what
    csv.writer did (qualifications a little less, residents a little more: aware timestamps)."""
    types = postgres.types
    oids: list[int] = []
    exprs: list[str] = []
    dates: dict[str, date] = {}

    def day(v: str) -> date:
        d = dates[v] = date.fromisoformat(v)
        return d

    def instant(v: str) -> datetime:  # as the text path: a plain timestamp is Japan's time (TimeZone)
        return datetime.fromisoformat(v).replace(tzinfo=JST)

    for i, c in enumerate(table.c):
        t, v = c.type, f"r[{i}]"
        if isinstance(t, Date):
            oids.append(types["date"].oid)
            v = f"(None if (v := r[{i}]) is None else D.get(v) or day(v))"
        elif isinstance(t, DateTime):
            oids.append(types["timestamptz" if t.timezone else "timestamp"].oid)
            v = f"(None if (v := r[{i}]) is None else {'instant' if t.timezone else 'fromiso'}(v))"
        elif isinstance(t, Uuid):  # a UUID's binary form is its 16 bytes: the hash's hex digits as bytes
            oids.append(types["bytea"].oid)
            v = f"(None if (v := r[{i}]) is None else fromhex(v))"
        elif isinstance(t, Boolean):
            oids.append(types["bool"].oid)
        elif isinstance(t, Integer):
            oids.append(types["int8" if isinstance(t, BigInteger) else "int4"].oid)
        else:
            oids.append(types["text"].oid)
        exprs.append(v)
    tx = adapt.Transformer()
    tx.set_dumper_types(oids, pq.Format.BINARY)
    # Generated, as the row converter (reader.py): one expression per column, no call per value.
    ns: dict[str, object] = {"D": dates, "day": day, "instant": instant, "fromiso": datetime.fromisoformat,
                             "fromhex": bytes.fromhex, "fmt": format_row_binary, "tx": tx}
    src = "def write(r, out):\n    fmt([" + ",\n         ".join(exprs) + "], tx, out)\n"
    exec(compile(src, f"<binary rows: {table.name}>", "exec"), ns)  # noqa: S102 - our own source
    return ns["write"]  # type: ignore[return-value]


def _parse_part(job: tuple) -> _Part:
    """Parse the records beginning in [start, end) of a file into binary COPY rows (no header)."""
    path, fm, kind, start, end, line_base, header, towns, salt, out_path = job
    issues: list[Issue] = []
    reader = FileReader(Path(path), fm, issues.append, start=start, end=end, line_base=line_base, header=header,
                        salt=salt)
    n = 0
    write = _binary_row_writer(STAGING[kind])
    buf = bytearray()
    with open(out_path, "wb") as fh:
        for row in _staged_rows(kind, reader, towns):
            write(row, buf)
            n += 1
            if len(buf) > (1 << 20):
                fh.write(buf)
                buf.clear()
        fh.write(buf)
    return _Part(start, reader.stop, reader.stop_line, out_path, reader.records, n, reader.bad, issues)


def _scan_part(job: tuple) -> _Part:
    """Hash the records beginning in [start, end) of a file into binary COPY rows (records.scan)."""
    path, fm, start, end, line_base, salt, out_path = job
    got = scan(Path(path), csv_format=fm.format == "csv", delimiter=fm.delimiter, header=fm.header, salt=salt,
               bom=fm.encoding.startswith("utf-8"), start=start, end=end, line_base=line_base)
    with open(out_path, "wb") as fh:
        fh.write(got.data)
    return _Part(start, got.stop, got.stop_line, out_path, got.records)


class _Writer:
    """Bulk rows into one staging table: binary COPY on PostgreSQL (_binary_row_writer), executemany
    on SQLite."""

    def __init__(self, conn: Connection, table: Table) -> None:
        self.conn = conn
        self.table = table
        self.cols = [c.name for c in table.c]
        self.pg = conn.dialect.name == "postgresql"
        self.rows: list[tuple] = []
        self.buf = bytearray()
        self.n = 0

    def __enter__(self) -> _Writer:
        if self.pg:
            self._format = _binary_row_writer(self.table)
            raw = self.conn.connection.driver_connection
            self._cur = raw.cursor()
            self._copy_cm = self._cur.copy(
                f"COPY {self.table.name} ({', '.join(self.cols)}) FROM STDIN (FORMAT binary)")
            self._copy = self._copy_cm.__enter__()
            self._copy.write(COPY_HEADER)
        else:
            self._sql = (f"INSERT INTO {self.table.name} ({', '.join(self.cols)}) "
                         f"VALUES ({', '.join('?' for _ in self.cols)})")
        return self

    def add(self, row: tuple) -> None:
        self.n += 1
        if self.pg:
            self._format(row, self.buf)
            if len(self.buf) > (1 << 20):
                self._flush()
        else:
            self.rows.append(row)
            if len(self.rows) >= BATCH:
                self._flush()

    def write_raw(self, data: bytes) -> None:
        """Binary COPY rows formatted elsewhere (parallel parsing; PostgreSQL only)."""
        self._copy.write(data)

    def _flush(self) -> None:
        if self.pg:
            if self.buf:
                self._copy.write(self.buf)
                self.buf = bytearray()
        elif self.rows:
            self.conn.exec_driver_sql(self._sql, self.rows)
            self.rows = []

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            self._flush()
            if self.pg:
                self._copy.write(COPY_TRAILER)
        if self.pg:
            self._copy_cm.__exit__(exc_type, exc, tb)
            self._cur.close()


def _merge_spans(spans: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(line, offset, length) of records, in file order -> (start, end, line_base) of adjacent runs."""
    out: list[list[int]] = []
    for line, off, length in spans:
        if out and out[-1][1] == off:
            out[-1][1] = off + length
        else:
            out.append([off, off + length, line - 1])
    return [(a, b, c) for a, b, c in out]


# --- the import --------------------------------------------------------------------------------


class _Load:
    def __init__(self, engine: Engine, folder: Path, mapping: Mapping, actor: str,
                 progress: Progress | None, today: date, workers: int | None = None, full: bool = False) -> None:
        self.engine = engine
        # Parallel reading of big files (PostgreSQL only): None = automatic (CPU count, at most 4,
        # ranges from PARALLEL_MIN_BYTES on); a number = that many processes for every range.
        self.force_parallel = workers is not None
        self.workers = workers if workers is not None else int(
            os.environ.get("MADOGUCHI_IMPORT_WORKERS", min(4, os.cpu_count() or 1)))
        self.folder = folder
        self.mapping = mapping
        self.actor = actor
        self.progress = progress or (lambda stage, done, total: None)
        self.today = today
        self.full = full or os.environ.get(FULL_ENV) == "1"
        self.pg = engine.dialect.name == "postgresql"
        self.issues: list[Issue] = []
        self.counts: dict[str, dict] = {}
        self.modes: dict[str, str] = {}  # kind -> "full" / "delta"
        self.run_id = 0
        self.conn: Connection
        self.manifest: Manifest | None = None
        self.present: set[str] = set()
        self.town_names: dict[str, tuple[str, str, str]] = {}
        self.initial = False  # no persons before this load: nothing to compare person by person
        self.tmp = ""
        self._pool: Executor | None = None
        self._hashing = ThreadPoolExecutor(max_workers=1)
        self.digests: dict[str, Future] = {}
        self.twins: dict[str, bool] = {}
        self.empty: set[str] = set()
        self.held_tbls: set[str] = set()  # stg_held has rows of these live tables
        self.unique: set[str] = set()  # staging kinds proven free of duplicate keys by a unique index
        self.layouts: dict[str, tuple] = {}
        self.scans: dict[str, tuple | None] = {}
        self.early: dict[str, tuple] = {}  # kind -> (submitted, job): the whole file's parsing, started ahead
        self.tables: dict[str, list[int]] = {}  # live table -> [deleted, inserted]
        self.rehashed = 0
        self.t0 = time.monotonic()

    # -- SQL helpers --
    def x(self, sql: str, **params: object):  # noqa: ANN201
        if not TRACE:
            return self.conn.execute(text(sql), params)
        t = time.perf_counter()
        r = self.conn.execute(text(sql), params)
        el = time.perf_counter() - t
        print(f"{el:8.3f}s @{time.monotonic() - self.t0:7.3f} {' '.join(sql.split())[:150]}", file=sys.stderr)
        if TRACE == "plans" and self.pg and el > 0.1 and sql.lstrip().split()[0] in ("SELECT", "INSERT", "UPDATE",
                                                                                   "DELETE"):
            for (line,) in self.conn.execute(text("EXPLAIN " + sql), params):
                print("          " + line, file=sys.stderr)
        return r

    def nsame(self, a: str, b: str) -> str:
        return f"{a} IS NOT DISTINCT FROM {b}" if self.pg else f"{a} IS {b}"

    def same(self, la: str, sa: str, cols: Iterable[str], nullable: set[str]) -> str:
        return " AND ".join(self.nsame(f"{la}.{c}", f"{sa}.{c}") if c in nullable else f"{la}.{c} = {sa}.{c}"
                            for c in cols)

    def held(self, alias: str, tbls: Iterable[str]) -> str:
        """SQL: the row `alias` is not held at its previous state. Without held rows simply TRUE: the
        anti-join against an empty table would still make the planner walk staging in key order."""
        tbls = [t for t in tbls if t in self.held_tbls]
        if not tbls:
            return "TRUE" if self.pg else "1"
        names = ", ".join(f"'{t}'" for t in tbls)
        return f"NOT EXISTS (SELECT 1 FROM stg_held h WHERE h.atena_no = {alias}.atena_no AND h.tbl IN ({names}))"

    def hold(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Hold (live table, atena_no) at the previous state."""
        rows = [{"tbl": t, "atena_no": a} for t, a in pairs]
        if rows:
            self.conn.execute(insert(STG_HELD), rows)
            self.held_tbls.update(r["tbl"] for r in rows)

    def key(self, kind: str, alias: str) -> str:
        """SQL: the locality key of a row of `kind` (staging or live table alias) as one text value."""
        cols = [f"{alias}.{c}" for c in KEYS[kind]]
        if not self.pg:
            return " || char(31) || ".join(cols)
        # "C" as the key tables (Code): 町字コード || 番地 mixes two collations, which MAX cannot sort
        return f'({" || chr(31) || ".join(cols)}) COLLATE "C"' if len(cols) > 1 else cols[0]

    def touched(self, kind: str, alias: str) -> str:
        """SQL: the live row `alias` may change in this load (always, the full way)."""
        if self.modes.get(kind) != "delta":
            return "TRUE" if self.pg else "1"
        return f"{self.key(kind, alias)} IN (SELECT key FROM aff_{kind})"

    def untouched(self, kind: str, alias: str) -> str:
        """SQL: the live row `alias` stands as it is (its record did not change)."""
        if self.modes.get(kind) != "delta":
            return "FALSE" if self.pg else "0"
        return f"{self.key(kind, alias)} NOT IN (SELECT key FROM aff_{kind})"

    def touched_rows(self, kind: str) -> str:
        """SQL: the live rows of the touched keys (delta), as a subquery `l`. On PostgreSQL through
        LATERAL, so that they are looked up by key: the planner misjudges how many rows a person has
        and would rather hash the whole table."""
        live, cols = LIVE[kind], KEYS[kind]
        if not self.pg or len(cols) > 1:
            return f"(SELECT * FROM {live} l WHERE {self.touched(kind, 'l')}) l"
        return (f"(SELECT t.* FROM aff_{kind} a CROSS JOIN LATERAL (SELECT * FROM {live} x "
                f"WHERE x.{cols[0]} = a.key OFFSET 0) t) l")  # OFFSET 0: not flattened into a plain join

    def town_touched(self, code: str, touched: bool = True) -> str:
        """SQL: the 町字 `code` has address rows that may change (or, touched=False, has none)."""
        if self.modes.get("addresses") != "delta":
            return ("TRUE" if self.pg else "1") if touched else ("FALSE" if self.pg else "0")
        return f"{code} {'' if touched else 'NOT '}IN (SELECT town FROM aff_towns)"

    def add_issue(self, issue: Issue) -> None:
        if len(self.issues) < MAX_ISSUES_KEPT:
            self.issues.append(issue)

    def pool(self) -> Executor:
        if self._pool is None:
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self._pool

    def close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        self._hashing.shutdown(cancel_futures=True)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = ""

    def out_path(self, name: str) -> str:
        if not self.tmp:
            self.tmp = tempfile.mkdtemp(prefix="madoguchi-import-")
        return os.path.join(self.tmp, name)

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
            self.x(f"SET temp_buffers = '{PG_TEMP_BUFFERS or self._temp_buffers()}'")
            self.x(f"SET work_mem = '{PG_WORK_MEM}'")
            self.x(f"SET maintenance_work_mem = '{PG_WORK_MEM}'")
            # Compiling a plan costs more than the short statements of a nightly load gain from it; and
            # the live tables have just been read whole (the classification), so a few thousand keys
            # are looked up through their indexes, not by hashing a million rows.
            self.x("SET jit = off")
            self.x("SET random_page_cost = 1.1")
            # Staging tables need row counts and key spreads, not fine histograms (reset for live tables).
            self.x("SET default_statistics_target = 10")
        # A run still marked running was killed (we hold the lock now): say so.
        self.conn.execute(update(ImportRun).where(ImportRun.outcome == "running").values(
            outcome="failed", finished_at=datetime.now(timezone.utc),
            message="取込が途中で止まりました（プロセスの強制終了など）。前回のデータはそのままです。"))
        self.run_id = self.conn.execute(insert(ImportRun).values(
            kind="full", source=str(self.folder), actor=self.actor, started_at=datetime.now(timezone.utc),
            outcome="running", counts={}, changes={}, quarantined=0, export_id="", message="",
        ).returning(ImportRun.id)).scalar_one()
        self.conn.commit()

    def _temp_buffers(self) -> str:
        """temp_buffers for this export's staging: 2.5 times its files' bytes, within 512 MB to 2 GB."""
        size = 0
        for fm in self.mapping.files.values():
            with contextlib.suppress(OSError):
                size += (self.folder / fm.path).stat().st_size
        mb = int(size * TEMP_BUFFERS_PER_BYTE / 1e6)
        return f"{min(max(mb, TEMP_BUFFERS_MIN_MB), TEMP_BUFFERS_MAX_MB)}MB"

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
            self.counts[kind] = {"file": fm.path, "sha256": "", "rows": 0, "loaded": 0, "quarantined": 0}
            # SHA-256 in a thread (hashlib lets go of the GIL); checked before the file's row count.
            self.digests[kind] = self._hashing.submit(_sha256, path)
            if m is not None and fm.path not in m.files:
                raise ImportFailed(f"{fm.path} が {self.mapping.manifest_path} に載っていません。"
                                   "基幹系の出力をやり直してください。")
        if "residents" not in self.present:
            raise ImportFailed("住民ファイル（residents）がありません。")
        if m is not None:
            self.conn.execute(update(ImportRun).where(ImportRun.id == self.run_id).values(export_id=m.export_id[:100]))
            self.conn.commit()

    def _check_digest(self, kind: str) -> None:
        c = self.counts[kind]
        c["sha256"] = digest = self.digests[kind].result()
        want = self.manifest.files[c["file"]][1] if self.manifest else None
        if want and want.lower() != digest:
            raise ImportFailed(f"{c['file']} の内容がマニフェストの SHA-256 と一致しません。転送途中で壊れたか、"
                               "出力後に書き換えられています。基幹系の出力をやり直してください。")

    # -- reading the files --
    def _mode(self, kind: str) -> str:
        """delta when the live table already carries record hashes (and what it is checked against is
        read the same way); otherwise full."""
        if self.full or self.modes.get(UPSTREAM.get(kind, ""), "delta") == "full":
            return "full"
        hashed = self.x(f"SELECT 1 FROM {LIVE[kind]} WHERE source_hash IS NOT NULL LIMIT 1").first()
        return "delta" if hashed else "full"

    def _layout(self, path: Path, fm: FileMapping, kind: str) -> tuple[list[str] | None, int, int, bytes]:
        """CSV header, where the data starts, its line base, and the salt of this file's record hashes."""
        header: list[str] | None = None
        data_start = line_base = 0
        head = b""
        if fm.format == "csv" and fm.header:
            probe = FileReader(path, fm, self.add_issue)
            header, data_start = probe.read_header()
            probe._plan(header)  # a missing required column fails here, before anything is read
            line_base = 1
            with open(path, "rb") as fh:
                head = fh.read(data_start)
        salt = f"madoguchi-import/{HASH_VERSION}/{kind}/{fm!r}/".encode() + head
        return header, data_start, line_base, salt

    def _submit(self, kind: str, path: Path, fm: FileMapping, start: int, end: int, line_base: int,
                job: Callable[[int, int, int, str], tuple], work: Callable[[tuple], _Part],
                parts: int | None = None) -> list:
        """Give [start, end) to the worker processes in parts; they run ahead while this process waits
        for the database."""
        chunks = guess_chunks(path, start, end, parts or self.workers * 4, line_base, fm.format == "csv")
        out = []
        for s, e, base in chunks:
            name = self.out_path(f"{work.__name__}-{kind}-{s}")
            out.append(((s, e, name), self.pool().submit(work, job(s, e, base, name))))
        return out

    @staticmethod
    def _chain(submitted: list, job: Callable[[int, int, int, str], tuple],
               work: Callable[[tuple], _Part]) -> Iterator[_Part]:
        """The parts in file order. A guessed part boundary can fall inside a record (a stray quote);
        then that part is read again, here, from where the one before it really stopped."""
        expected: tuple[int, int] | None = None
        for (_s, e, name), fut in submitted:
            part = fut.result()
            if expected is not None and part.start != expected[0]:
                os.unlink(part.out)
                part = work(job(expected[0], e, expected[1], name))
            yield part
            expected = (part.stop, part.stop_line)

    def _parallel(self, fm: FileMapping, nbytes: int) -> bool:
        """Whether a range is parsed by the worker processes (a header-less CSV cannot be split)."""
        return (self.pg and self.workers >= 2 and not (fm.format == "csv" and not fm.header)
                and (self.force_parallel or nbytes >= PARALLEL_MIN_BYTES))

    def _submit_parse(self, kind: str, rng: tuple[int, int, int]) -> tuple[list, Callable]:
        fm = self.mapping.files[kind]
        path = self.folder / fm.path
        header, _start, _base, salt = self.layouts[kind]
        towns = self.town_names

        def job(s: int, e: int, b: int, name: str) -> tuple:
            return (str(path), fm, kind, s, e, b, header, towns, salt, name)
        return self._submit(kind, path, fm, *rng, job, _parse_part), job

    def _whole(self, kind: str) -> tuple[int, int, int]:
        """The range of all records of a file (start, end, line base), as the full way reads it."""
        _header, data_start, line_base, _salt = self.layouts[kind]
        return data_start, (self.folder / self.mapping.files[kind].path).stat().st_size, line_base

    def _parse_ahead(self, kinds: Iterable[str]) -> None:
        """Hand the files of `kinds` read the full way to the worker processes now, in this order
        (theirs is first come, first served): the residents, and behind them the files per person,
        whose parsing then overlaps the writing of the persons (see DETAILS)."""
        for kind in kinds:
            if kind in self.present and kind not in self.early and self.modes[kind] == "full":
                rng = self._whole(kind)
                if self._parallel(self.mapping.files[kind], rng[1] - rng[0]):
                    self.early[kind] = self._submit_parse(kind, rng)

    def _read(self, kind: str, path: Path, fm: FileMapping, ranges: list[tuple[int, int, int]],
              header: list[str] | None, salt: bytes, label: str, total: int | None,
              expect: dict[int, str] | None = None) -> dict:
        """Parse and validate the records of `ranges` into stg_<kind> (FileReader). `expect`: the hash
        the scan found per line (delta mode); a record that hashes differently now was rewritten."""
        got = {"records": 0, "loaded": 0, "bad": 0, "unchecked": 0}
        towns = self.town_names
        big = [r for r in ranges if self._parallel(fm, r[1] - r[0])]
        small = [r for r in ranges if not self._parallel(fm, r[1] - r[0])]
        with _Writer(self.conn, STAGING[kind]) as w:
            for rng in big:
                early = self.early.pop(kind, None) if rng == self._whole(kind) else None
                submitted, job = early or self._submit_parse(kind, rng)
                for part in self._chain(submitted, job, _parse_part):
                    with open(part.out, "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            w.write_raw(block)
                    os.unlink(part.out)
                    for issue in part.issues:
                        self.add_issue(issue)
                    for k in ("records", "loaded", "bad"):
                        got[k] += getattr(part, k)
                    got["unchecked"] += part.loaded
                    self.progress(label, got["records"], total)
            if small:  # one reader for all of them: many small ranges are the nightly case
                reader = FileReader(path, fm, self.add_issue, header=header, salt=salt, ranges=small)
                n0 = w.n
                for row in _staged_rows(kind, reader, towns):
                    if expect is not None and expect.get(row[-2]) != row[-1]:
                        self._rewritten(fm, row[-2])
                    w.add(row)
                    if w.n % 20000 == 0:
                        self.progress(label, got["records"] + reader.records, total)
                got["records"] += reader.records
                got["loaded"] += w.n - n0
                got["bad"] += reader.bad
        return got

    def _submit_scan(self, kind: str, path: Path, fm: FileMapping, data_start: int, line_base: int,
                     salt: bytes) -> tuple | None:
        """Start hashing a big file's records in the worker processes (delta mode, PostgreSQL)."""
        size = path.stat().st_size
        if not self.pg or self.workers < 2 or size - data_start < (256 << 10):
            return None

        def job(s: int, e: int, b: int, name: str) -> tuple:
            return (str(path), fm, s, e, b, salt, name)
        parts = max(1, min(self.workers * 4, (size - data_start) // SCAN_PART_BYTES))
        return self._submit(kind, path, fm, data_start, size, line_base, job, _scan_part, parts), job

    def _index(self, kind: str, path: Path, fm: FileMapping, data_start: int, line_base: int, salt: bytes,
               submitted: tuple | None, label: str, total: int | None) -> int:
        """Every record's line, span and hash into idx_<kind> (records.scan); returns the record count."""
        if submitted is None:
            got = scan(path, csv_format=fm.format == "csv", delimiter=fm.delimiter, header=fm.header, salt=salt,
                       bom=fm.encoding.startswith("utf-8"), start=data_start, line_base=line_base)
            with _Writer(self.conn, INDEX[kind]) as w:
                if self.pg:  # scan made the binary COPY rows already
                    w.write_raw(got.data)
                else:
                    for row in unpack_rows(got.data):
                        w.add(row)
            return got.records
        n = 0

        def blocks() -> Iterator[bytes]:
            nonlocal n
            for part in self._chain(*submitted, _scan_part):
                with open(part.out, "rb") as fh:
                    yield from iter(lambda: fh.read(1 << 20), b"")
                os.unlink(part.out)
                n += part.records
                self.progress(label, n, total)
        with _Writer(self.conn, INDEX[kind]) as w:
            for block in blocks():
                w.write_raw(block)
        return n

    def _classify(self, kind: str, records: int) -> None:
        """cls_<kind>: tonight's records without a live row of the same hash (n = 1) and live rows
        without such a record (lv = 1, with their key), one pass over both."""
        live, key = LIVE[kind], self.key(kind, LIVE[kind])
        if self.pg:
            self.x(f"ANALYZE idx_{kind}")
            # A live row without a hash (loaded before hashes existed) matches nothing.
            self.x(f"INSERT INTO cls_{kind} (h, n, lv, lkey, line, off, len) SELECT COALESCE(i.h, l.h), "
                   "CASE WHEN i.h IS NULL THEN 0 ELSE 1 END, CASE WHEN l.h IS NULL THEN 0 ELSE 1 END, l.k, "
                   f"i.line, i.off, i.len FROM idx_{kind} i FULL JOIN (SELECT COALESCE(source_hash, gen_random_uuid()) AS h, {key} AS k "
                   f"FROM {live}) l ON l.h = i.h WHERE i.h IS NULL OR l.h IS NULL")
        else:
            self.x(f"INSERT INTO cls_{kind} (h, n, lv, lkey, line, off, len) SELECT h, 1, 0, NULL, line, off, len "
                   f"FROM idx_{kind} WHERE h NOT IN (SELECT source_hash FROM {live} WHERE source_hash IS NOT NULL) "
                   f"UNION ALL SELECT COALESCE(source_hash, lower(hex(randomblob(16)))), 0, 1, {key}, NULL, NULL, NULL "
                   f"FROM {live} "
                   f"WHERE source_hash IS NULL OR source_hash NOT IN (SELECT h FROM idx_{kind})")
        # One to one, the matched records and live rows are as many. If not, a record is in the file
        # twice (or two live rows share a hash): those are read and checked like changed ones.
        unmatched = dict(self.x(f"SELECT lv, COUNT(*) FROM cls_{kind} GROUP BY lv").all())
        n_live = self.x(f"SELECT COUNT(*) FROM {live}").scalar() or 0
        self.twins[kind] = records - unmatched.get(0, 0) != n_live - unmatched.get(1, 0)
        if self.twins[kind]:
            self.x(f"INSERT INTO cls_{kind} (h, n, lv, lkey) SELECT i.h, COUNT(*), 1, MAX({self.key(kind, 'l')}) "
                   f"FROM idx_{kind} i JOIN {live} l ON l.source_hash = i.h GROUP BY i.h HAVING COUNT(*) > 1")
        if self.pg:
            self.x(f"ANALYZE cls_{kind}")

    def _spans(self, sql: str) -> tuple[list[tuple[int, int, int]], dict[int, str]]:
        """Byte ranges of the records `sql` selects from an index (line, off, len, h), and their hashes."""
        rows = [(int(a), int(b), int(c), str(h).replace("-", "")) for a, b, c, h in self.x(sql)]
        return _merge_spans(r[:3] for r in rows), {r[0]: r[3] for r in rows}

    @staticmethod
    def _rewritten(fm: FileMapping, line: int) -> None:
        raise ImportFailed(f"{fm.path} が取込の途中で書き換えられました（{line}行目）。"
                           "基幹系の出力が終わってから、もう一度取り込んでください。")

    def _affect(self, kind: str) -> None:
        """aff_<kind>: the locality keys whose records are read and merged in this load (delta)."""
        live = LIVE[kind]
        parts = [f"SELECT {self.key(kind, 's')} AS k FROM stg_{kind} s", f"SELECT lkey AS k FROM cls_{kind} WHERE lv > 0"]
        if self.twins[kind]:
            parts.append(f"SELECT {self.key(kind, 'l')} AS k FROM {live} l JOIN cls_{kind} c ON c.h = l.source_hash "
                         "WHERE c.n > 1")
        up = UPSTREAM.get(kind)
        if up in self.present and self.modes.get(up) == "delta":
            parts.append(f"SELECT key AS k FROM aff_{up}")
        if kind == "residents" and "addresses" in self.present:
            # A renamed or dropped 町字 changes the address key or the validity of its residents.
            parts.append("SELECT a.atena_no AS k FROM person_addresses a WHERE a.town_code IN ("
                         f"SELECT t.town_code FROM towns t WHERE {self.town_touched('t.town_code')} "
                         "AND NOT EXISTS (SELECT 1 FROM stg_towns s WHERE s.town_code = t.town_code "
                         "AND s.name = t.name))")
        self.x(f"INSERT INTO aff_{kind} (key) SELECT k FROM ({' UNION '.join(parts)}) a WHERE k IS NOT NULL")
        if kind == "addresses":
            self.x("INSERT INTO aff_towns (town) SELECT town_code FROM stg_addresses UNION SELECT b.town_code FROM "
                   f"banchi b WHERE {self.key(kind, 'b')} IN (SELECT key FROM aff_addresses)")
        # Looked up by key from big and small tables alike: an index keeps a misjudged nested loop cheap.
        self.x(f"CREATE INDEX ix_aff_{kind} ON aff_{kind} (key)")
        if self.pg:
            self.x(f"ANALYZE aff_{kind}")

    def _stage_file(self, kind: str, layout: tuple, submitted: tuple | None) -> None:
        fm = self.mapping.files[kind]
        path = self.folder / fm.path
        total = None
        if self.manifest and fm.path in self.manifest.files:
            total = self.manifest.files[fm.path][0]
        label = f"読込 {fm.path}"
        self.progress(label, 0, total)
        t0 = time.perf_counter()
        header, data_start, line_base, salt = layout
        mode = self.modes[kind]
        c = self.counts[kind]
        if mode == "full":
            got = self._read(kind, path, fm, [self._whole(kind)], header, salt, label, total)
            records = got["records"]
        else:
            records = self._index(kind, path, fm, data_start, line_base, salt, submitted, label, total)
            if TRACE:
                print(f"{time.perf_counter() - t0:8.3f}s @{time.monotonic() - self.t0:7.3f} scanned {fm.path}",
                      file=sys.stderr)
            if kind == "residents":
                _pause("after_scan")
            self._classify(kind, records)
            # The records to read: those without a live row of their hash (the classification kept
            # where they are), and a record that is in the file twice.
            twins = (f" UNION SELECT line, off, len, h FROM idx_{kind} WHERE h IN (SELECT h FROM cls_{kind} "
                     "WHERE n > 1)") if self.twins[kind] else ""
            ranges, expect = self._spans(f"SELECT line, off, len, h FROM cls_{kind} WHERE n = 1 AND line IS NOT NULL"
                                         f"{twins} ORDER BY line")
            got = self._read(kind, path, fm, ranges, header, salt, label, total, expect)
            self._affect(kind)
            if kind not in FROM_LIVE:  # the unchanged records of touched keys are read again
                ranges, expect = self._spans(
                    f"SELECT i.line, i.off, i.len, i.h FROM idx_{kind} i WHERE i.h IN (SELECT l.source_hash FROM "
                    f"{self.touched_rows(kind)}) AND i.h NOT IN (SELECT h FROM cls_{kind} WHERE n > 0) "
                    "ORDER BY i.line")
                more = self._read(kind, path, fm, ranges, header, salt, label, total, expect)
                for k in got:
                    got[k] += more[k]
            if self.pg:
                self.x(f"ANALYZE stg_{kind}")
            if got["unchecked"]:  # read by the worker processes: compare in the database
                stray = self.x(f"SELECT MIN(s.line) FROM stg_{kind} s LEFT JOIN idx_{kind} i ON i.line = s.line "
                               "AND i.h = s.h WHERE i.line IS NULL").scalar()
                if stray is not None:
                    self._rewritten(fm, stray)
            if kind in FROM_LIVE:
                cols = ", ".join(f.name for f in CATALOGUE[kind])
                live_cols = ", ".join(f"l.{f.name}" for f in CATALOGUE[kind])
                self.x(f"INSERT INTO stg_{kind} ({cols}, line, h) SELECT {live_cols}, -l.id, l.source_hash "
                       f"FROM {self.touched_rows(kind)} WHERE l.source_hash IS NOT NULL "
                       f"AND l.source_hash NOT IN (SELECT h FROM cls_{kind})")
                if self.pg:
                    self.x(f"ANALYZE stg_{kind}")
            c["parsed"] = got["records"]
        if kind == "addresses":
            self._town_rows()
        self._check_digest(kind)
        self.progress(label, records, total)
        c["rows"], c["loaded"], c["quarantined"] = records, records - got["bad"], got["bad"]  # loaded: staged or unchanged
        c["mode"] = mode
        if TRACE:
            print(f"{time.perf_counter() - t0:8.3f}s @{time.monotonic() - self.t0:7.3f} staged {fm.path} ({mode}, "
                  f"{records} records, "
                  f"{got['records']} parsed)", file=sys.stderr)
        if total is not None and total != records:
            raise ImportFailed(
                f"{fm.path} の行数がマニフェストと違います（マニフェスト {total} 行、読めた行 {records} 行）。"
                "ファイルが途中で切れているか、引用符（\"）の閉じ忘れで行がつながっています。")

    def _town_rows(self) -> None:
        """stg_towns from the address master rows read: per 町字, the name, reading and postal code
        most of its rows give (ties: the smallest). Not the first row's: the order of the rows must
        not matter, and a nightly load does not look at rows that did not change."""
        rows = "SELECT town_code, town_name, town_kana, postal_code FROM stg_addresses"
        if self.modes.get("addresses") == "delta":  # the rows not read again are the live ones
            rows += (" UNION ALL SELECT b.town_code, b.town_name, b.town_kana, b.postal_code FROM banchi b WHERE "
                     f"{self.town_touched('b.town_code')} AND {self.untouched('addresses', 'b')}")
        best: dict[str, tuple] = {}
        for code, name, kana, postal, n in self.x(
                f"SELECT town_code, town_name, town_kana, postal_code, COUNT(*) FROM ({rows}) r "
                "GROUP BY town_code, town_name, town_kana, postal_code"):
            cand = (-int(n), name, kana, postal)
            if code not in best or cand < best[code]:
                best[code] = cand
        if best:
            self.conn.execute(insert(STG_TOWNS), [{"town_code": code, "name": name, "kana": kana,
                                                   "kana_key": _fold(kana), "postal_code": postal}
                                                  for code, (_n, name, kana, postal) in best.items()])

    def _towns(self) -> None:
        """The town names residents' address keys are made from: tonight's master, else the live one."""
        if "addresses" in self.present:
            q = ("SELECT town_code, name, kana, postal_code FROM stg_towns UNION ALL "
                 "SELECT town_code, name, kana, postal_code FROM towns "
                 f"WHERE {self.town_touched('town_code', touched=False)}")
        else:
            q = "SELECT town_code, name, kana, postal_code FROM towns"
        self.town_names = {r[0]: (r[1], r[2], r[3]) for r in self.x(q)}

    def prepare(self) -> None:
        """Staging tables; each file's layout and mode; the scans of the delta files, all at once (the
        workers hash one file while the database works)."""
        if self.pg:  # one round trip for two dozen tables
            ddl = [f"DROP TABLE IF EXISTS {t.name}; {CreateTable(t).compile(dialect=self.conn.dialect)}"
                   for t in ALL_STAGING]
            self.conn.exec_driver_sql(";\n".join(ddl))
        else:
            for t in ALL_STAGING:
                self.x(f"DROP TABLE IF EXISTS {t.name}")
                t.create(self.conn)
        self.initial = self.x("SELECT 1 FROM persons LIMIT 1").first() is None
        self.empty = {t for t in ("persons", "person_addresses", "qualifications", "support_measures", "banchi",
                                  "katagaki") if self.x(f"SELECT 1 FROM {t} LIMIT 1").first() is None}
        kinds = [k for k in ORDER if k in self.present]
        for kind in kinds:
            fm = self.mapping.files[kind]
            self.layouts[kind] = self._layout(self.folder / fm.path, fm, kind)
            self.modes[kind] = self._mode(kind)
        for kind in kinds:
            if self.modes[kind] == "delta":
                _h, data_start, line_base, salt = self.layouts[kind]
                fm = self.mapping.files[kind]
                self.scans[kind] = self._submit_scan(kind, self.folder / fm.path, fm, data_start, line_base, salt)

    def stage(self, group: tuple[str, ...]) -> None:
        """Read the files of `group` (MASTERS, then DETAILS) into staging, with their key indexes and
        statistics. The worker processes end with the last group."""
        try:
            for kind in group:
                if kind not in self.present:
                    continue
                if kind == "residents":
                    self._towns()
                    self._parse_ahead(("residents", *DETAILS))
                self._stage_file(kind, self.layouts[kind], self.scans.get(kind))
            if group == MASTERS:  # also when the residents were not read the full way
                self._parse_ahead(DETAILS)
        finally:
            if group == DETAILS:
                self.close_pool()
        kind_of = {Path(c["file"]).name: k for k, c in self.counts.items()}
        self.hold((HOLDABLE[kind_of[i.file]], i.key) for i in self.issues
                  if i.key and kind_of.get(i.file) in HOLDABLE and kind_of[i.file] in group)
        for kind in group:
            if kind in STAGING_KEYS:
                self._key_index(kind, *STAGING_KEYS[kind])
        if group == MASTERS:
            self.x("CREATE INDEX ix_stg_held ON stg_held (atena_no)")
        if self.pg:
            for t in [STAGING[k] for k in group] + ([STG_TOWNS] if group == MASTERS else []) + [STG_HELD]:
                self.x(f"ANALYZE {t.name}")

    def _key_index(self, kind: str, name: str, cols: str, unique: bool) -> None:
        """The staging index on a file's key columns (STAGING_KEYS), built unique where it can be: if
        that succeeds, the file has no duplicate keys, and the query that looks for them (a hash of
        every row, twice) is skipped. NULLS NOT DISTINCT (PostgreSQL 15): two empty start dates are
        the same key."""
        if unique and self.pg and self.conn.dialect.server_version_info >= (15,):
            try:
                with self.conn.begin_nested():
                    self.x(f"CREATE UNIQUE INDEX {name} ON stg_{kind} ({cols}) NULLS NOT DISTINCT")
                self.unique.add(kind)
                return
            except IntegrityError:  # a duplicate: the validation names it
                pass
        self.x(f"CREATE INDEX {name} ON stg_{kind} ({cols})")

    # -- validation --
    def _sql_issues(self, file_kind: str, sql: str, reason: Callable[[tuple], str], column: str,
                    hold: str | None, **params: object) -> list[tuple]:
        rows = [tuple(r) for r in self.x(sql, **params)]
        if not rows:
            return rows
        if any(r[0] < 0 for r in rows):  # rows taken from the live table (FROM_LIVE): their real lines
            ids = sorted({-r[0] for r in rows if r[0] < 0})
            found = dict(self.x(f"SELECT l.id, i.line FROM {LIVE[file_kind]} l JOIN idx_{file_kind} i "
                                f"ON i.h = l.source_hash WHERE l.id IN ({', '.join(map(str, ids))})").all())
            rows = [(found[-r[0]], *r[1:]) if r[0] < 0 else r for r in rows]
        rows.sort(key=lambda r: r[0])
        name = self.counts[file_kind]["file"]
        for r in rows:
            self.add_issue(Issue(name, int(r[0]), column, reason(r), "", str(r[1])))
        self.counts[file_kind]["quarantined"] += len(rows)
        self.counts[file_kind]["loaded"] -= len(rows)
        if hold:
            self.hold((hold, r[1]) for r in rows)
        return rows

    def _town_known(self, code: str) -> str:
        """SQL: the 町字 code is in tonight's address master (or, without one, in the live master)."""
        if "addresses" not in self.present:
            return f"EXISTS (SELECT 1 FROM towns t WHERE t.town_code = {code})"
        return (f"(EXISTS (SELECT 1 FROM stg_towns t WHERE t.town_code = {code}) OR EXISTS (SELECT 1 FROM towns t "
                f"WHERE t.town_code = {code} AND {self.town_touched('t.town_code', touched=False)}))")

    def _unknown_persons(self, table: str) -> str:
        """SQL: the rows of `table` whose person is not in tonight's residents file — neither read now
        nor (delta) unchanged since the last load. Delta: branches without OR, so that persons are
        looked up by key."""
        def unread(alias: str) -> str:
            return f"NOT EXISTS (SELECT 1 FROM stg_residents r WHERE r.atena_no = {alias}.atena_no)"
        if self.modes.get("residents") != "delta":
            return unread(table)
        read = f"SELECT q.line FROM {table} q WHERE {unread('q')}"
        return (f"line IN ({read} AND q.atena_no IN (SELECT key FROM aff_residents) UNION "
                f"{read} AND NOT EXISTS (SELECT 1 FROM persons p WHERE p.atena_no = q.atena_no))")

    def validate_masters(self) -> None:
        self.progress("検証（住所・住民）", 0, None)
        p = self.present
        if "addresses" in p and "addresses" not in self.unique:
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
                live_banchi = ("EXISTS (SELECT 1 FROM banchi b WHERE b.town_code = stg_katagaki.town_code AND "
                               "b.banchi = stg_katagaki.banchi AND "
                               f"{self.untouched('addresses', 'b')})")
                self._sql_issues("katagaki", "DELETE FROM stg_katagaki WHERE NOT EXISTS (SELECT 1 FROM stg_addresses a "
                                 "WHERE a.town_code = stg_katagaki.town_code AND a.banchi = stg_katagaki.banchi) "
                                 f"AND NOT {live_banchi} RETURNING line, town_code, banchi",
                                 lambda r: f"町字コード「{r[1]}」番地「{r[2]}」が住所マスタ（addresses）にありません。",
                                 "town_code, banchi", None)
        if "residents" not in self.unique:  # duplicate atena_no: all rows of that number are held
            self._sql_issues("residents", """
                SELECT line, atena_no FROM stg_residents WHERE atena_no IN (
                  SELECT atena_no FROM stg_residents GROUP BY atena_no HAVING COUNT(*) > 1) ORDER BY line""",
                lambda r: f"宛名番号「{r[1]}」が複数の行にあります。この人は前回の内容のままにします。", "atena_no",
                "persons")
        if "addresses" in p or self.town_names:
            self._sql_issues("residents", f"""
                SELECT line, atena_no, town_code FROM stg_residents s WHERE s.town_code <> ''
                AND NOT {self._town_known('s.town_code')} ORDER BY line""",
                lambda r: f"町字コード「{r[2]}」が住所マスタにありません。この人は前回の内容のままにします。",
                "town_code", "persons")

    def validate_details(self) -> None:
        self.progress("検証（資格・支援措置）", 0, None)
        p = self.present
        if "qualifications" in p:
            if "qualifications" not in self.unique:
                self._sql_issues("qualifications", """
                    SELECT q.line, q.atena_no, q.kind FROM stg_qualifications q JOIN (
                      SELECT atena_no, kind, start_date FROM stg_qualifications GROUP BY atena_no, kind, start_date
                      HAVING COUNT(*) > 1) d ON d.atena_no = q.atena_no AND d.kind = q.kind
                      AND """ + self.nsame("d.start_date", "q.start_date"),
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

    def _orphans(self, kind: str, label: str) -> None:
        # Rows of a person whose own row was bad are held with that person, not reported twice.
        self._sql_issues(kind, f"DELETE FROM stg_{kind} WHERE {self._unknown_persons(f'stg_{kind}')} "
                         f"AND {self.held(f'stg_{kind}', ('persons',))} RETURNING line, atena_no",
                         lambda r: f"宛名番号「{r[1]}」が住民ファイルにありません。この{label}の行は取り込みません。",
                         "atena_no", None)

    # -- the swap --
    def _rebuild_indexes(self, table: str, rows: int) -> list[str]:
        """Filling an empty table with many rows: drop its indexes now, return the statements that
        build them after the insert (one sort each instead of a million single inserts). The primary
        key and unique constraints too (staging holds no duplicate keys: the checks left them out;
        should one slip through, adding the constraint fails the load), unless a foreign key uses them."""
        if not self.pg or rows < REBUILD_MIN_ROWS or table not in self.empty:
            return []  # dropping an index would lock out readers of the previous rows until the commit
        constraints = [(name, sql) for name, sql in self.x(
            "SELECT k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.conrelid = CAST(:t AS regclass) "
            "AND k.contype IN ('p', 'u') AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' "
            "AND f.conindid = k.conindid) ORDER BY k.contype", t=table)]
        indexes = [(name, sql) for name, sql in self.x(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)", t=table)]
        for name, _sql in indexes:
            self.x(f'DROP INDEX "{name}"')
        for name, _sql in constraints:
            self.x(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        return [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {sql}' for name, sql in constraints] + [
            sql for _name, sql in indexes]

    def _build(self, defs: list[str]) -> None:
        for sql in defs:
            self.x(sql)

    def merge(self, scope: str, live: str, src: str, cols: list[str], nullable: set[str],
              hold: tuple[str, ...] = ()) -> tuple[int, int]:
        """Make the live rows in `scope` (SQL on the live table) equal to staging, row by row.
        `nullable`: the columns that may be NULL (dates)."""
        hashed = src != "stg_towns"
        if self.pg and hashed and scope == "TRUE" and live not in self.empty:
            return self._merge_whole(live, src, cols, nullable, hold)
        hl = f" AND {self.held(live, hold)}" if hold else ""
        hs = f" AND {self.held('s', hold)}" if hold else ""
        deleted = self.x(f"DELETE FROM {live} WHERE {scope} AND NOT EXISTS "
                         f"(SELECT 1 FROM {src} s WHERE {self.same(live, 's', cols, nullable)}){hl}").rowcount
        n = self.x(f"SELECT COUNT(*) FROM {src}").scalar() or 0
        rebuild = self._rebuild_indexes(live, n)
        ins_cols = cols + (["source_hash"] if hashed else [])
        sel = [f"s.{c}" for c in cols] + (["s.h"] if hashed else [])
        # An empty table (a first load) has no rows to compare with: the join would only cost time.
        new = "TRUE" if live in self.empty else (
            f"NOT EXISTS (SELECT 1 FROM {live} l WHERE {self.same('l', 's', cols, nullable)})")
        # Filling an empty table, every staged row comes from its own line of the file: ids from the
        # line numbers, after one step of the sequence, instead of a nextval per row (a fifth of the
        # insert of 2.5M qualifications).
        numbered = hashed and live in self.empty
        if numbered:
            base = self.x(f"SELECT nextval(pg_get_serial_sequence('{live}', 'id'))").scalar() if self.pg else 0
            ins_cols, sel = ["id", *ins_cols], [f"{base} + s.line", *sel]
        inserted = self.x(f"INSERT INTO {live} ({', '.join(ins_cols)}) SELECT {', '.join(sel)} FROM {src} s "
                          f"WHERE {new}{hs}").rowcount
        self._build(rebuild)
        if numbered and self.pg and inserted:  # later rows (a nightly load) take ids after these
            self.x(f"SELECT setval(pg_get_serial_sequence('{live}', 'id'), (SELECT MAX(id) FROM {live}))")
        if hashed and live not in self.empty:  # rows inserted here carry their hash already
            self.rehashed += self.x(
                f"UPDATE {live} SET source_hash = s.h FROM {src} s WHERE {self.same(live, 's', cols, nullable)} "
                f"AND NOT ({self.nsame(f'{live}.source_hash', 's.h')}){hs}").rowcount
        return deleted, inserted

    def _merge_whole(self, live: str, src: str, cols: list[str], dates: set[str],
                     hold: tuple[str, ...]) -> tuple[int, int]:
        """merge() of a whole table (the full way, PostgreSQL): one FULL JOIN finds the rows to delete,
        insert and rehash, where three joins of two big tables (one each) cost three times as much.
        A hash join needs plain equality: an empty date is compared as -infinity, a date the reader
        never gives."""
        def v(alias: str, c: str) -> str:
            return f"COALESCE({alias}.{c}, DATE '-infinity')" if c in dates else f"{alias}.{c}"
        on = " AND ".join(f"{v('l', c)} = {v('s', c)}" for c in cols)
        hl = self.held("l", hold) if hold else "TRUE"
        hs = self.held("s", hold) if hold else "TRUE"
        self.x("TRUNCATE stg_merge")
        self.x(f"INSERT INTO stg_merge (lid, sline, h) SELECT l.id, s.line, s.h FROM "
               f"(SELECT * FROM {live} l WHERE {hl}) l FULL JOIN (SELECT * FROM {src} s WHERE {hs}) s ON {on} "
               "WHERE l.id IS NULL OR s.line IS NULL OR l.source_hash IS DISTINCT FROM s.h")
        self.x("ANALYZE stg_merge")
        deleted = self.x(f"DELETE FROM {live} WHERE id IN (SELECT lid FROM stg_merge WHERE sline IS NULL)").rowcount
        inserted = self.x(f"INSERT INTO {live} ({', '.join(cols)}, source_hash) SELECT "
                          f"{', '.join(f's.{c}' for c in cols)}, s.h FROM {src} s "
                          "WHERE s.line IN (SELECT sline FROM stg_merge WHERE lid IS NULL)").rowcount
        self.rehashed += self.x(f"UPDATE {live} SET source_hash = m.h FROM stg_merge m WHERE {live}.id = m.lid "
                                "AND m.sline IS NOT NULL").rowcount
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
               f"(SELECT 1 FROM stg_residents s WHERE s.atena_no = p.atena_no) AND {hp} "
               f"AND {self.touched('residents', 'p')}")
        self.x("INSERT INTO stg_diff (atena_no, s_status, p_status, same_person, same_addr, moved) "
               "SELECT a.atena_no, NULL, NULL, 1, 0, 0 FROM person_addresses a WHERE NOT EXISTS "
               "(SELECT 1 FROM stg_residents s WHERE s.atena_no = a.atena_no) AND NOT EXISTS "
               f"(SELECT 1 FROM persons p WHERE p.atena_no = a.atena_no) AND {self.held('a', ('persons',))} "
               f"AND {self.touched('residents', 'a')}")
        if self.pg:
            self.x("ANALYZE stg_diff")
        changes = ("SELECT atena_no, CASE "
                   "WHEN s_status = '1' AND (p_status IS NULL OR p_status <> '1') THEN 'new' "
                   "WHEN p_status = '1' AND (s_status IS NULL OR s_status <> '1') THEN 'removed' "
                   "WHEN s_status = '1' AND p_status = '1' AND moved = 1 THEN 'moved' "
                   "WHEN s_status IS NOT NULL AND p_status IS NOT NULL AND (same_person = 0 OR same_addr = 0) "
                   "THEN 'changed' END AS change FROM stg_diff")
        if self.initial:
            # The first load: everyone is new, a per-person list would only repeat the count.
            rows = self.x(f"SELECT change, COUNT(*) FROM ({changes}) d WHERE change IS NOT NULL GROUP BY change")
        else:
            self.x("INSERT INTO import_changes (run_id, atena_no, change) SELECT :run, atena_no, change FROM ("
                   f"{changes}) d WHERE change IS NOT NULL", run=self.run_id)
            rows = self.x("SELECT change, COUNT(*) FROM import_changes WHERE run_id = :run GROUP BY change",
                          run=self.run_id)
        out = {"new": 0, "moved": 0, "changed": 0, "removed": 0}
        out.update({k: int(v) for k, v in rows})
        return out

    def replace_rows(self, live: str, cols: list[str], flag: str, extra: dict[str, str]) -> tuple[int, int]:
        """Persons and their addresses: replace exactly the rows stg_diff marks as different."""
        deleted = self.x(f"DELETE FROM {live} WHERE atena_no IN "
                         f"(SELECT atena_no FROM stg_diff WHERE {flag} = 0)").rowcount
        n = self.x(f"SELECT COUNT(*) FROM stg_diff WHERE {flag} = 0").scalar() or 0
        rebuild = self._rebuild_indexes(live, n)
        sel = ", ".join([f"s.{c}" for c in cols] + list(extra.values()))
        if live in self.empty:  # stg_diff then marks every staged person not held (the join would only cost time)
            which = self.held("s", ("persons",))
        else:
            which = f"s.atena_no IN (SELECT atena_no FROM stg_diff WHERE {flag} = 0 AND s_status IS NOT NULL)"
        inserted = self.x(f"INSERT INTO {live} ({', '.join(cols + list(extra))}) SELECT {sel} FROM stg_residents s "
                          f"WHERE {which}", run=self.run_id).rowcount
        self._build(rebuild)
        return deleted, inserted

    @staticmethod
    def _person_cols() -> tuple[list[str], list[str], set[str]]:
        skip = {"restricted", "import_run_id", "source_hash"}
        pcols = [c.name for c in PersonRow.__table__.c if c.name not in skip]
        acols = [c.name for c in PersonAddressRow.__table__.c if c.name not in skip]
        nullable = {c.name for t in (PersonRow, PersonAddressRow) for c in t.__table__.c if c.nullable}
        return pcols, acols, nullable

    def swap_masters(self) -> dict[str, int]:
        """The address master and the persons (with their addresses) as staging says; returns the
        changes of persons."""
        self.progress("差し替え（住所・住民）", 0, None)
        p, tables = self.present, self.tables
        changes = self.diff()
        if "addresses" in p:
            tables["towns"] = list(self.merge(self.town_touched("towns.town_code"), "towns", "stg_towns",
                                              ["town_code", "name", "kana", "kana_key", "postal_code"], set()))
            tables["banchi"] = list(self.merge(self.touched("addresses", "banchi"), "banchi", "stg_addresses",
                                               ["town_code", "town_name", "town_kana", "banchi", "banchi_kana",
                                                "postal_code", "district"], set()))
        if "katagaki" in p:
            tables["katagaki"] = list(self.merge(self.touched("katagaki", "katagaki"), "katagaki", "stg_katagaki",
                                                 ["town_code", "banchi", "katagaki", "katagaki_kana"], set()))
        pcols, acols, _nullable = self._person_cols()
        tables["persons"] = list(self.replace_rows("persons", pcols, "same_person",
                                                   {"restricted": "FALSE", "import_run_id": ":run"}))
        tables["person_addresses"] = list(self.replace_rows("person_addresses", acols, "same_addr",
                                                            {"restricted": "FALSE", "source_hash": "s.h"}))
        self.rehashed += self.x(
            "UPDATE person_addresses SET source_hash = s.h FROM stg_residents s, stg_diff d "
            "WHERE d.atena_no = s.atena_no AND d.same_addr = 1 AND person_addresses.atena_no = s.atena_no "
            f"AND NOT ({self.nsame('person_addresses.source_hash', 's.h')})").rowcount
        return changes

    def swap_details(self, changes: dict[str, int]) -> dict:
        """Qualifications and support measures; then who is restricted, and fresh statistics."""
        self.progress("差し替え（資格・支援措置）", 0, None)
        p, tables = self.present, self.tables
        f, t = "FALSE", "TRUE"
        dates = {"start_date", "end_date"}
        if "qualifications" in p:
            tables["qualifications"] = list(self.merge(
                self.touched("qualifications", "qualifications"), "qualifications", "stg_qualifications",
                ["atena_no", "kind", "role", "start_date", "end_date", "detail"], dates,
                ("persons", "qualifications")))
        if "support_measures" in p:
            tables["support_measures"] = list(self.merge(
                self.touched("support_measures", "support_measures"), "support_measures", "stg_support_measures",
                ["atena_no", "kind", "start_date", "end_date", "note"], dates, ("persons", "support_measures")))
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
        if self.pg:  # fresh statistics where a table was filled or changed a lot (the planner needs them)
            self.x("RESET default_statistics_target")
            for tbl, (deleted, inserted) in tables.items():
                if tbl in self.empty or deleted + inserted >= 100_000:
                    self.x(f"ANALYZE {tbl}")
        return {"persons": changes, "tables": tables, "restricted_updates": flips, "rehashed": self.rehashed,
                "modes": dict(self.modes), "initial": self.initial}

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
        if self.pg:
            self.conn.exec_driver_sql("; ".join(f"DROP TABLE IF EXISTS {t.name}" for t in ALL_STAGING))
        else:
            for t in ALL_STAGING:
                self.x(f"DROP TABLE IF EXISTS {t.name}")
        if self.pg:
            for setting in ("TimeZone", "work_mem", "maintenance_work_mem", "jit", "random_page_cost",
                            "default_statistics_target"):
                self.x(f"RESET {setting}")
            self.x("SELECT pg_advisory_unlock(hashtext('madoguchi-import'))")
        self.conn.commit()

    def fail(self, message: str) -> None:
        """Record a failed run in its own transaction (the load itself was rolled back)."""
        try:
            self.close_pool()
            self.conn.rollback()
            self.finish("failed", message, {})
            self.conn.commit()
            self.drop_staging()
        finally:
            self.conn.close()

    def run(self) -> ImportResult:
        self.check_files()
        self.prepare()
        self.stage(MASTERS)
        self.conn.commit()
        _pause("after_staging")
        self.validate_masters()
        self.conn.commit()
        for kind in DETAILS:  # a damaged file fails the load before anything is written
            if kind in self.present:
                self._check_digest(kind)
        # From here on one transaction: the masters are written while the other files are parsed
        # (unless the load will abort anyway; it still reads the rest, to report every bad row).
        aborting = self.mapping.bad_rows == "abort" and bool(self.issues)
        person_changes = {} if aborting else self.swap_masters()
        self.stage(DETAILS)
        self.validate_details()
        if self.issues and self.mapping.bad_rows == "abort":
            first = self.issues[0].text()
            raise ImportFailed(f"不正な行が {len(self.issues)} 件あるため取込を中止しました（最初の1件: {first}）。"
                               "前回のデータはそのままです。詳しくは取込結果の一覧（import_issues）を見てください。")
        prev = self.previous_ok()
        same = bool(prev and self.manifest and prev.export_id == self.manifest.export_id and all(
            (prev.counts or {}).get(k, {}).get("sha256") == c["sha256"] for k, c in self.counts.items()))
        changes = self.swap_details(person_changes)
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
                  workers: int | None = None, full: bool = False) -> ImportResult:
    """Load one export folder. Raises ImportFailed (Japanese message) and leaves the data untouched.

    `progress(stage, done, total)` is called as files are read; `workers` sets the number of parsing
    processes on PostgreSQL (None: automatic, 1: in-process); `full` reads every record even where a
    live row carries its hash (the comparison runs of the tests; or to rule the hashes out)."""
    engine: Engine = getattr(db_or_engine, "engine", db_or_engine)  # Database or Engine
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping) if mapping is not None else default_mapping()
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportFailed(f"取込フォルダ {folder} がありません。")
    load = _Load(engine, folder, mapping, actor, progress, today or date.today(), workers, full)
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
