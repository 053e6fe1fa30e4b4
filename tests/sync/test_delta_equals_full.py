"""The nightly (delta) way of loading gives exactly what reading every record (the full way) gives.

Two databases receive the same sequence of exports: one always loads the full way, the other
loads the delta way from the second export on. Each export is yesterday's with random changes of
the kinds a core system produces — and the broken rows it sometimes produces. After every load
both databases must hold the same rows (record hashes included), report the same issues and
the same differences.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
from pathlib import Path

import pytest
from kikan_fixtures import TODAY
from sqlalchemy import text

import pgtools
from madoguchi.store import migrate
from madoguchi.store.db import Database
from madoguchi.sync.generator import generate_export
from madoguchi.sync.importer import import_export

FILES = ("addresses.csv", "katagaki.csv", "residents.csv", "qualifications.csv", "support_measures.csv")
SNAPSHOT = {
    "persons": "SELECT * FROM persons ORDER BY atena_no",
    "person_addresses": "SELECT * FROM person_addresses ORDER BY atena_no",
    "qualifications": "SELECT atena_no, kind, role, start_date, end_date, detail, source_hash FROM qualifications",
    "support_measures": "SELECT atena_no, kind, start_date, end_date, note, source_hash FROM support_measures",
    "towns": "SELECT * FROM towns ORDER BY town_code",
    "banchi": "SELECT town_code, banchi, banchi_kana, postal_code, district, source_hash FROM banchi",
    "katagaki": "SELECT town_code, banchi, katagaki, katagaki_kana, source_hash FROM katagaki",
    "import_changes": "SELECT atena_no, change FROM import_changes WHERE run_id = (SELECT MAX(id) FROM import_runs)",
}


def snapshot(db: Database) -> dict:
    with db.engine.connect() as c:
        return {k: sorted((tuple(str(v) for v in r) for r in c.execute(text(q))), key=repr)
                for k, q in SNAPSHOT.items()}


class Export:
    """An export as lines per file (header first), mutated and written back byte for byte."""

    def __init__(self, folder: Path) -> None:
        self.files = {name: (folder / name).read_bytes().split(b"\r\n") for name in FILES}
        for lines in self.files.values():
            if lines[-1] == b"":
                lines.pop()
        self.n = 0

    def rows(self, name: str) -> list[dict]:
        lines = self.files[name]
        return list(csv.DictReader(io.StringIO("\r\n".join(x.decode("utf-8", "replace") for x in lines))))

    def header(self, name: str) -> list[str]:
        return self.files[name][0].decode().split(",")

    @staticmethod
    def encode(header: list[str], row: dict) -> bytes:
        buf = io.StringIO()
        csv.DictWriter(buf, header, lineterminator="").writerow(row)
        return buf.getvalue().encode()

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True)
        files = []
        for name, lines in self.files.items():
            data = b"\r\n".join(lines) + b"\r\n"
            (folder / name).write_bytes(data)
            files.append({"name": name, "sha256": hashlib.sha256(data).hexdigest()})  # no row counts: see below
        self.n += 1
        (folder / "manifest.json").write_text(json.dumps({"export_id": f"X{self.n}", "kind": "full", "files": files}),
                                              encoding="utf-8")
        return folder


def mutate(ex: Export, rnd: random.Random) -> None:
    """One day of changes: edits, new and removed rows, renamed towns, and some broken rows."""
    res_h = ex.header("residents.csv")
    for _ in range(rnd.randint(1, 6)):
        name = rnd.choice(FILES)
        lines = ex.files[name]
        header = ex.header(name)
        op = rnd.random()
        if len(lines) < 3:
            continue
        i = rnd.randrange(1, len(lines))
        rows = list(csv.DictReader(io.StringIO(lines[0].decode() + "\r\n" + lines[i].decode("utf-8", "replace"))))
        if not rows or None in rows[0]:
            continue
        row = rows[0]
        if op < 0.25:  # edit a field
            field = rnd.choice(header)
            row[field] = rnd.choice([row[field] + "x", "", "1", "2026-02-30", "999", "2025-04-01", "本町"])
            lines[i] = ex.encode(header, row)
        elif op < 0.35:  # remove a row
            del lines[i]
        elif op < 0.45:  # the same row twice
            lines.insert(rnd.randrange(1, len(lines) + 1), lines[i])
        elif op < 0.55:  # a new row made from another one
            key = header[0]
            row[key] = (row[key] + str(rnd.randrange(10))) if name != "addresses.csv" else row[key]
            if name == "addresses.csv":
                row["banchi"] = f"{rnd.randrange(9000)}番地"
            lines.append(ex.encode(header, row))
        elif op < 0.62 and name == "addresses.csv":  # a town renamed in every row
            code = row["town_code"]
            new = rnd.choice(["新町", row["town_name"] + "東", "本町"])
            for k in range(1, len(lines)):
                try:
                    r = list(csv.DictReader(io.StringIO(lines[0].decode() + "\r\n" + lines[k].decode())))
                except UnicodeDecodeError:  # a mojibake row stays as it is
                    continue
                if r and None not in r[0] and r[0]["town_code"] == code:
                    r[0]["town_name"] = new
                    lines[k] = ex.encode(header, r[0])
        elif op < 0.68:  # mojibake
            lines[i] = lines[i].replace("町".encode(), "町".encode("cp932"), 1) + "町".encode("cp932")
        elif op < 0.74:  # a broken quote
            lines[i] = lines[i].replace(b",", b',"x"y,', 1)
        elif op < 0.80:  # a quoted field with a line break
            field = rnd.choice([f for f in header if f not in ("atena_no", "town_code")] or header)
            row[field] = "改行\nあり"
            lines[i] = ex.encode(header, row)
        elif op < 0.86:  # a stray quote inside an unquoted field
            lines[i] = lines[i] + b'"'
        elif op < 0.89:  # another row with the same key, one other field different
            field = header[-1]
            row[field] = (row[field] or "") + "別"
            lines.insert(rnd.randrange(1, len(lines) + 1), ex.encode(header, row))
        elif op < 0.92 and name == "residents.csv":  # a resident moves to another town
            row["town_code"] = rnd.choice(["001", "002", "003", "005", "999"])
            lines[i] = ex.encode(res_h, row)
        else:  # rows in another order
            body = lines[1:]
            rnd.shuffle(body)
            lines[1:] = body


@pytest.fixture(params=["sqlite", "postgresql"])
def two_dbs(request, tmp_path):
    if request.param == "sqlite":
        urls = [f"sqlite:///{tmp_path / f'{k}.sqlite3'}" for k in ("full", "delta")]
        cleanup = []
    else:
        template = request.getfixturevalue("_pg_template")
        names = [pgtools.create_database_from(template) for _ in range(2)]
        urls = [pgtools.url_for(n) for n in names]
        cleanup = names
    dbs = [Database.connect(u) for u in urls]
    if request.param == "sqlite":
        for db in dbs:
            migrate.upgrade(db.engine)
    yield dbs
    for db in dbs:
        db.dispose()
    for n in cleanup:
        pgtools.drop_database(n)


def _result(r) -> dict:  # noqa: ANN001
    counts = {k: {f: v for f, v in c.items() if f not in ("mode", "parsed")} for k, c in r.counts.items()}
    changes = {k: v for k, v in r.changes.items() if k not in ("modes", "seconds")}
    issues = sorted((i.file, i.line, i.column, i.reason, i.key) for i in r.issues)
    return {"outcome": r.outcome, "message": r.message, "counts": counts, "changes": changes, "issues": issues}


# MADOGUCHI_FUZZ_SEEDS=200 for a longer hunt
@pytest.mark.parametrize("seed", range(int(os.environ.get("MADOGUCHI_FUZZ_SEEDS", "6"))))
def test_delta_loads_equal_full_loads(two_dbs, tmp_path, seed):
    full_db, delta_db = two_dbs
    rnd = random.Random(seed)
    ex = Export(generate_export(tmp_path / "base", 120, seed=seed, today=TODAY))
    delta_seen = 0
    for step in range(14):
        folder = ex.write(tmp_path / f"e{step}")
        got = []
        for db, full in ((full_db, True), (delta_db, False)):
            try:
                r = import_export(db, folder, today=TODAY, full=full)
                got.append(_result(r))
                if not full:
                    delta_seen += list(r.changes["modes"].values()).count("delta")
            except Exception as exc:  # noqa: BLE001 - both ways must fail alike
                got.append({"failed": str(exc)})
        assert got[0] == got[1], f"seed {seed}, export {step}"
        assert snapshot(full_db) == snapshot(delta_db), f"seed {seed}, export {step}"
        mutate(ex, rnd)
    assert delta_seen > 30  # the delta way really ran


def test_fixed_width_cp932_delta_equals_full(two_dbs, tmp_path):
    """The example CP932 fixed-width layout (no manifest, no header): edits, a removed record, a
    duplicated one, a broken one — the nightly way gives what reading every record gives."""
    root = Path(__file__).resolve().parents[2]
    mapping = root / "server_sync" / "mappings" / "example-cp932-fixed.toml"
    sample = root / "server_sync" / "samples" / "cp932-fixed"
    full_db, delta_db = two_dbs
    jumin = (sample / "JUMIN.DAT").read_bytes().split(b"\r\n")
    shikaku = (sample / "SHIKAKU.DAT").read_bytes()
    name_at = slice(26, 66)  # bytes 27–66: 氏名

    def step(k: int, residents: list[bytes]) -> None:
        folder = tmp_path / f"f{k}"
        folder.mkdir()
        (folder / "JUMIN.DAT").write_bytes(b"\r\n".join(residents))
        (folder / "SHIKAKU.DAT").write_bytes(shikaku)
        (folder / "JUSHO.DAT").write_bytes((sample / "JUSHO.DAT").read_bytes())
        got = []
        for db, full in ((full_db, True), (delta_db, False)):
            r = import_export(db, folder, mapping, today=TODAY, full=full)
            got.append(_result(r))
        assert r.changes["modes"]["residents"] == ("full" if k == 0 else "delta")
        assert got[0] == got[1], f"step {k}"
        assert snapshot(full_db) == snapshot(delta_db), f"step {k}"

    step(0, jumin)
    edited = list(jumin)
    rec = bytearray(edited[1])
    rec[name_at] = "佐藤\u3000花子".encode("cp932").ljust(40)
    edited[1] = bytes(rec)
    step(1, edited)
    step(2, edited[:2] + edited[3:] + [edited[0]])  # one removed, the first one again at the end
    broken = list(edited)
    broken[2] = broken[2][:30] + b"\x82" + broken[2][31:]  # half a CP932 character
    step(3, broken)
    step(4, jumin)
