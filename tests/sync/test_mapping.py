"""Mapping files: the shipped ones load, a CP932 fixed-width export goes through, errors are Japanese."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kikan_fixtures import TODAY, base_residents, write_csv, write_export, write_manifest
from sqlalchemy import text

from madoguchi.errors import InputError
from madoguchi.sync.importer import import_export
from madoguchi.sync.mapping import load_mapping, parse_mapping
from madoguchi.sync.reader import Converter, FieldError

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "server_sync" / "mappings"
SAMPLE = ROOT / "server_sync" / "samples" / "cp932-fixed"


def rows(db, sql: str) -> list[tuple]:  # noqa: ANN001
    with db.engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql))]


def test_default_toml_equals_builtin_default():
    m = load_mapping(MAPPINGS / "default.toml")
    builtin = load_mapping(None)
    assert m.bad_rows == builtin.bad_rows == "quarantine"
    for kind, fm in builtin.files.items():
        got = m.files[kind]
        assert (got.path, got.encoding, got.format, got.date_format, got.optional) == (
            fm.path, fm.encoding, fm.format, fm.date_format, fm.optional)


def test_cp932_fixed_width_sample_through_example_mapping(any_db):
    mapping = load_mapping(MAPPINGS / "example-cp932-fixed.toml")
    r = import_export(any_db, SAMPLE, mapping, today=TODAY)
    assert r.outcome == "ok" and not r.issues
    assert r.counts["residents"]["rows"] == 5 and set(r.counts) == {"residents", "qualifications", "addresses"}
    got = rows(any_db, "SELECT atena_no, relationship, sex, name, name_kana, birth_date, is_householder, status "
                       "FROM persons ORDER BY atena_no")
    first = got[0]
    assert first[:5] == ("0000100001", "世帯主", "1", "髙橋\u3000健一", "タカハシ\u3000ケンイチ")
    assert str(first[5]) == "1980-12-26" and bool(first[6])  # 5551226 = 昭和55年12月26日
    assert got[1][1:4] == ("妻", "2", "髙橋\u3000美﨑")  # IBM-extension characters survive CP932
    assert got[4][7] == "2"
    quals = rows(any_db, "SELECT atena_no, kind, start_date, end_date, detail FROM qualifications "
                         "ORDER BY atena_no, kind")
    assert [(q[1], str(q[2]), str(q[3])) for q in quals if q[0] == "0000100001"] == [
        ("inkan", "1998-10-01", "2025-03-31"), ("kokuho", "1995-04-01", "None")]
    assert ("0000100004", "kaigo") in [(q[0], q[1]) for q in quals]
    addr = rows(any_db, "SELECT katagaki, address_key FROM person_addresses WHERE atena_no = '0000100004'")
    assert addr == [("緑町ハイツ２０１号", "緑町3番12号緑町ハイツ201号")]
    assert import_export(any_db, SAMPLE, mapping, today=TODAY).outcome == "unchanged"


def test_fixed_width_broken_bytes_and_record_length(any_db, tmp_path):
    folder = tmp_path / "fixed"
    shutil.copytree(SAMPLE, folder)
    lines = (folder / "JUMIN.DAT").read_bytes().split(b"\r\n")
    # line 2: the name field gets an unassigned CP932 code; line 3 loses its last byte
    name_at = 26
    lines[1] = lines[1][:name_at] + b"\x85\x40" + lines[1][name_at + 2:]
    lines[2] = lines[2][:-1]
    (folder / "JUMIN.DAT").write_bytes(b"\r\n".join(lines))
    r = import_export(any_db, folder, MAPPINGS / "example-cp932-fixed.toml", today=TODAY)
    got = sorted((i.line, i.column, i.reason) for i in r.issues if i.file == "JUMIN.DAT")
    assert got[0][:2] == (2, "27〜66バイト目") and "cp932 として読めない" in got[0][2]
    assert got[1][:2] == (3, "") and "レコード長が 196 バイト" in got[1][2]
    assert [a for (a,) in rows(any_db, "SELECT atena_no FROM persons ORDER BY atena_no")] == [
        "0000100001", "0000100004", "0000100005"]


def test_cp932_csv_with_codes_and_wareki_dates(any_db, tmp_path):
    folder = write_export(tmp_path / "e")
    res = base_residents()
    for r in res:
        r.update(birth_date="S55.12.26", resident_since="H12.04.01", address_since="H22.05.01")
        r["sex"] = {"1": "男", "2": "女"}[r["sex"]]
        r["name"] = r["name"].replace("\U00020bb7", "吉").replace("\U0002123d", "土").replace("\U000e0100", "")
    write_csv(folder / "residents.csv", "residents", res, encoding="cp932")
    write_manifest(folder, {"residents.csv": 5, "qualifications.csv": 3, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1})
    mapping = parse_mapping({"files": {"residents": {
        "encoding": "cp932", "date_format": "wareki",
        "codes": {"sex": {"男": "1", "女": "2"}},
        "columns": {"name": "name", "birth_date": {"header": "birth_date"}}}}}, "test")
    r = import_export(any_db, folder, mapping, today=TODAY)
    assert not r.issues
    assert rows(any_db, "SELECT name, sex, birth_date FROM persons WHERE atena_no = 'A002'")[0][:2] == (
        "山田\u3000花子", "2")
    assert {str(d) for (d,) in rows(any_db, "SELECT birth_date FROM persons")} == {"1980-12-26"}


def test_renamed_headers_and_constants(any_db, tmp_path):
    folder = write_export(tmp_path / "e")
    path = folder / "residents.csv"
    data = path.read_bytes()
    path.write_bytes(data.replace(b"atena_no,", "宛名番号,".encode(), 1))
    write_manifest(folder, {"residents.csv": 5, "qualifications.csv": 3, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1})
    mapping = parse_mapping({"files": {"residents": {"columns": {"atena_no": "宛名番号",
                                                                 "nationality": {"value": "日本"}}}}})
    r = import_export(any_db, folder, mapping, today=TODAY)
    assert r.outcome == "ok"
    assert rows(any_db, "SELECT DISTINCT nationality FROM persons") == [("日本",)]


@pytest.mark.parametrize(("fmt", "value", "want"), [
    ("iso", "2025-04-01", "2025-04-01"),
    ("yyyymmdd", "20250401", "2025-04-01"),
    ("wareki", "R07.04.01", "2025-04-01"),
    ("wareki", "H31.04.30", "2019-04-30"),
    ("era-code", "4070401", "1995-04-01"),
    ("auto", "令和7年4月1日", "2025-04-01"),
])
def test_date_formats(fmt, value, want):
    m = parse_mapping({"files": {"residents": {"date_format": fmt}}})
    conv = Converter(m.files["residents"])
    birth = next(f for f in m.files["residents"].fields if f.name == "birth_date")
    assert conv.convert(birth, value) == want


@pytest.mark.parametrize(("fmt", "value", "reason"), [
    ("iso", "2025-02-30", "存在しない日付"),
    ("iso", "2025/04/01", "YYYY-MM-DD"),
    ("yyyymmdd", "20250230", "存在しない日付"),
    ("wareki", "H31.05.01", "平成の期間にない"),
    ("wareki", "2025-04-01", "和暦"),
    ("era-code", "R070401", "元号コード"),
])
def test_bad_dates_have_japanese_reasons(fmt, value, reason):
    m = parse_mapping({"files": {"residents": {"date_format": fmt}}})
    birth = next(f for f in m.files["residents"].fields if f.name == "birth_date")
    with pytest.raises(FieldError, match=reason):
        Converter(m.files["residents"]).convert(birth, value)


@pytest.mark.parametrize(("data", "message"), [
    ({"bad_rows": "ignore"}, "bad_rows = 「ignore」は使えません"),
    ({"files": {"people": {}}}, "知らないファイル種別"),
    ({"files": {"residents": {"encoding": "euc-jp"}}}, "encoding"),
    ({"files": {"residents": {"columns": {"nickname": "x"}}}}, "「nickname」はresidentsの項目にありません"),
    ({"files": {"residents": {"columns": {"name": {"start": 0, "length": 3}}}}}, "1 以上の整数"),
    ({"files": {"residents": {"format": "fixed", "columns": {"atena_no": {"start": 1, "length": 3}}}}},
     "「household_no」の位置"),
])
def test_mapping_errors_are_japanese(data, message):
    with pytest.raises(InputError, match=message):
        parse_mapping(data, "x.toml")


def test_mapping_file_not_found_or_not_toml(tmp_path):
    with pytest.raises(InputError, match="見つかりません"):
        load_mapping(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ", encoding="utf-8")
    with pytest.raises(InputError, match="書式が正しくありません"):
        load_mapping(bad)


def test_max_length_override(any_db, tmp_path):
    folder = write_export(tmp_path / "e")
    mapping = parse_mapping({"files": {"residents": {"max_length": {"name": 4}}}})
    r = import_export(any_db, folder, mapping, today=TODAY)
    assert sorted((i.line, i.column) for i in r.issues) == [(n, "name") for n in range(2, 7)]
    assert all("4文字を超えています（5文字）" in i.reason for i in r.issues)


def test_csv_without_header_by_column_number(any_db, tmp_path):
    folder = write_export(tmp_path / "e")
    path = folder / "residents.csv"
    path.write_bytes(path.read_bytes().split(b"\r\n", 1)[1])  # drop the header line
    write_manifest(folder, {"residents.csv": 5, "qualifications.csv": 3, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1})
    from kikan_fixtures import COLUMNS
    columns = {name: str(n) for n, name in enumerate(COLUMNS["residents"], 1)}
    mapping = parse_mapping({"files": {"residents": {"header": False, "columns": columns}}})
    r = import_export(any_db, folder, mapping, today=TODAY)
    assert r.outcome == "ok" and not r.issues
    assert rows(any_db, "SELECT name FROM persons WHERE atena_no = 'A002'") == [("山田\u3000花子",)]


ODD_VALUES = ("", " ", "\u3000", "x", " x ", "1", "0", "2", "5", "true", "12345678901", "1234567", "１２３",
              "123-4567", "2025-04-01", " 2025-04-01", "2025-02-30", "R07.04.01", "2026-11-24 06:00:00",
              "2026-11-24T06:00:00+09:00", "2026-11-24 6:00", "ア" * 401, "𠮷田\u3000一郎", "NULL", "男")


def _outcome(fn, *args):  # noqa: ANN001, ANN202
    try:
        return fn(*args)
    except FieldError as exc:
        return ("FieldError", str(exc))


@pytest.mark.parametrize("data", [{}, {"null_values": ["NULL"]}, {"codes": {"atena_no": {"男": "1", "x": ""}}},
                                  {"date_format": "wareki"}])
@pytest.mark.parametrize("kind", ["residents", "qualifications", "addresses", "katagaki", "support_measures"])
def test_row_converter_gives_what_each_field_converter_gives(kind, data):
    """The generated whole-row converter (its expressions are the fast paths of the full way) must
    agree with `Converter.convert` on every value, odd ones too: the same value, or the same error;
    also where a value may be missing (None: a column the row does not have)."""
    if "codes" in data and kind in ("addresses", "katagaki"):
        data = {"codes": {"town_code": data["codes"]["atena_no"]}}
    fm = parse_mapping({"files": {kind: data}}).files[kind]
    for f in fm.fields:
        for value in (*ODD_VALUES, None):
            one = Converter(fm)
            want = _outcome(one.convert, f, value)
            for missing in (False, True) if value is not None else (True,):
                got = _outcome(Converter(fm).row_converter([(0, f)], missing=missing), [value])
                assert got == [want] or (isinstance(got, tuple) and isinstance(want, tuple)), (f.name, value)
                # again once the date cache has seen the value (the fast path reads it)
                got = _outcome(one.row_converter([(0, f)], missing=missing), [value])
                assert got == [want] or (isinstance(got, tuple) and isinstance(want, tuple)), (f.name, value)
    # a whole row: the fields in their columns
    fields = list(fm.fields)
    row = [ODD_VALUES[i % len(ODD_VALUES)] for i in range(len(fields))]
    want = [_outcome(Converter(fm).convert, f, v) for f, v in zip(fields, row)]
    got = _outcome(Converter(fm).row_converter(list(enumerate(fields))), row)
    assert got == want or (isinstance(got, tuple) and any(isinstance(w, tuple) for w in want))
