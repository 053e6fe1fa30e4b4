"""Small hand-written core-system exports for importer tests (the generator makes the big ones)."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path

from sqlalchemy import text

from madoguchi.sync.mapping import CATALOGUE

TODAY = date(2026, 11, 25)
COLUMNS = {k: [f.name for f in fields] for k, fields in CATALOGUE.items()}

# Names outside the BMP and with an ideographic variation sequence must survive byte for byte.
YOSHIDA = "\U00020bb7田\u3000一郎"  # 𠮷田　一郎
TSUCHIYA = "\U0002123d屋\u3000次郎"  # 𡈽屋　次郎
KATSURAGI = "葛\U000e0100城\u3000花"  # 葛󠄀城　花 (IVS)

ADDRESSES = [
    {"town_code": "001", "town_name": "本町", "town_kana": "ホンマチ", "banchi": "1番地", "postal_code": "0740001"},
    {"town_code": "001", "town_name": "本町", "town_kana": "ホンマチ", "banchi": "2番地", "postal_code": "0740001"},
    {"town_code": "002", "town_name": "緑町", "town_kana": "ミドリマチ", "banchi": "3番12号",
     "postal_code": "0740002"},
]
KATAGAKI = [{"town_code": "001", "banchi": "1番地", "katagaki": "本町ハイツ101号"}]


def person(atena: str, name: str, kana: str, household: str, *, head: bool = False, rel: str = "世帯主",
           town: str = "001", banchi: str = "1番地", **kw: str) -> dict:
    row = {"atena_no": atena, "household_no": household, "is_householder": "1" if head else "0",
           "relationship": rel, "resident_kind": "1", "status": "1", "name": name, "name_kana": kana,
           "birth_date": "1980-04-01", "sex": "1", "town_code": town, "banchi": banchi, "postal_code": "0740001",
           "resident_since": "2000-04-01", "address_since": "2010-05-01", "updated_at": "2026-11-20 10:00:00"}
    row.update(kw)
    return row


def base_residents() -> list[dict]:
    return [
        person("A001", "山田\u3000太郎", "ヤマダ\u3000タロウ", "H1", head=True, katagaki="本町ハイツ101号"),
        person("A002", "山田\u3000花子", "ヤマダ\u3000ハナコ", "H1", rel="妻", sex="2", katagaki="本町ハイツ101号"),
        person("A003", YOSHIDA, "ヨシダ\u3000イチロウ", "H2", head=True, town="002", banchi="3番12号",
               birth_date="1950-01-15"),
        person("A004", KATSURAGI, "カツラギ\u3000ハナ", "H3", head=True, sex="2", banchi="2番地"),
        person("A005", TSUCHIYA, "ツチヤ\u3000ジロウ", "H4", head=True, banchi="2番地"),
    ]


def base_qualifications() -> list[dict]:
    return [
        {"atena_no": "A001", "kind": "kokuho", "role": "head", "start_date": "2010-05-01"},
        {"atena_no": "A002", "kind": "kokuho", "role": "insured", "start_date": "2010-05-01"},
        {"atena_no": "A003", "kind": "kouki", "role": "insured", "start_date": "2015-01-15", "detail": "被保険者番号123"},
    ]


def base_support() -> list[dict]:
    return [{"atena_no": "A005", "start_date": "2026-01-10", "end_date": "2027-01-09", "kind": "dv", "note": "DV"}]


def write_csv(path: Path, kind: str, rows: list[dict], encoding: str = "utf-8") -> None:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS[kind], lineterminator="\r\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def write_manifest(folder: Path, rows: dict[str, int], export_id: str = "E1") -> None:
    files = []
    for name, n in rows.items():
        data = (folder / name).read_bytes()
        files.append({"name": name, "rows": n, "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"export_id": export_id, "created_at": "2026-11-25T06:00:00+09:00", "kind": "full", "files": files}
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def write_export(folder: Path, residents: list[dict] | None = None, qualifications: list[dict] | None = None,
                 support: list[dict] | None = None, addresses: list[dict] | None = None,
                 katagaki: list[dict] | None = None, export_id: str = "E1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sets = {"residents": base_residents() if residents is None else residents,
            "qualifications": base_qualifications() if qualifications is None else qualifications,
            "support_measures": base_support() if support is None else support,
            "addresses": ADDRESSES if addresses is None else addresses,
            "katagaki": KATAGAKI if katagaki is None else katagaki}
    for kind, rows in sets.items():
        write_csv(folder / f"{kind}.csv", kind, rows)
    write_manifest(folder, {f"{k}.csv": len(v) for k, v in sets.items()}, export_id)
    return folder


def replace_line(path: Path, lineno: int, new: bytes) -> None:
    """Replace one physical line (1-based, header = 1) with raw bytes, keeping CRLF."""
    lines = path.read_bytes().split(b"\r\n")
    lines[lineno - 1] = new
    path.write_bytes(b"\r\n".join(lines))


def snapshot(db) -> dict[str, list[tuple]]:  # noqa: ANN001
    """Every imported table, sorted, for before/after comparisons."""
    out = {}
    queries = {
        "persons": "SELECT * FROM persons ORDER BY atena_no",
        "person_addresses": "SELECT * FROM person_addresses ORDER BY atena_no",
        "qualifications": "SELECT atena_no, kind, role, start_date, end_date, detail FROM qualifications "
                          "ORDER BY atena_no, kind",
        "support_measures": "SELECT atena_no, kind, start_date, end_date, note FROM support_measures ORDER BY atena_no",
        "towns": "SELECT * FROM towns ORDER BY town_code",
        "banchi": "SELECT town_code, banchi, postal_code FROM banchi ORDER BY town_code, banchi",
        "katagaki": "SELECT town_code, banchi, katagaki FROM katagaki ORDER BY katagaki",
    }
    with db.engine.connect() as c:
        for k, q in queries.items():
            out[k] = [tuple(r) for r in c.execute(text(q))]
    return out
