"""The importer on both dialects: full load, diffs, restrictions, unchanged reloads, bad input."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timezone

import pytest
from kikan_fixtures import (KATSURAGI, TODAY, TSUCHIYA, YOSHIDA, base_qualifications, base_residents, base_support, person,
                      replace_line, snapshot, write_csv, write_export, write_manifest)
from sqlalchemy import select, text

from madoguchi.domain.jst import JST
from madoguchi.domain.kana import fold_kana
from madoguchi.errors import ImportFailed
from madoguchi.store.models import ImportChange, ImportIssue, ImportRun
from madoguchi.sync.importer import _fold_address, import_export, last_import_summary
from madoguchi.sync.mapping import parse_mapping

ABORT = parse_mapping({"bad_rows": "abort"}, "test")


def rows(db, sql: str, **params) -> list[tuple]:  # noqa: ANN001
    with db.engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


def test_full_load(any_db, export_dir):
    seen = []
    result = import_export(any_db, export_dir, actor="tester", today=TODAY,
                           progress=lambda stage, done, total: seen.append(stage))
    assert result.outcome == "ok"
    assert result.changes["persons"] == {"new": 5, "moved": 0, "changed": 0, "removed": 0}
    assert result.counts["residents"]["loaded"] == 5
    assert "読込 residents.csv" in seen and seen[-1] == "完了"
    persons = rows(any_db, "SELECT atena_no, household_no, is_householder, kana_key, birth_date, restricted, "
                           "import_run_id FROM persons ORDER BY atena_no")
    assert [p[0] for p in persons] == ["A001", "A002", "A003", "A004", "A005"]
    a001 = persons[0]
    assert (a001[1], bool(a001[2]), a001[3]) == ("H1", True, "ヤマダタロウ")
    assert str(a001[4]) == "1980-04-01"
    assert a001[6] == result.run_id
    # 支援措置 current on the load date: restricted in both tables, nobody else is.
    assert [p[0] for p in persons if p[5]] == ["A005"]
    assert rows(any_db, "SELECT atena_no FROM person_addresses WHERE restricted = :t", t=True) == [("A005",)]
    addr = rows(any_db, "SELECT town_code, banchi, katagaki, address_key FROM person_addresses WHERE atena_no='A001'")
    assert addr == [("001", "1番地", "本町ハイツ101号", "本町1番地本町ハイツ101号")]
    assert rows(any_db, "SELECT town_code, name, kana_key FROM towns ORDER BY town_code") == [
        ("001", "本町", "ホンマチ"), ("002", "緑町", "ミドリマチ")]
    assert rows(any_db, "SELECT COUNT(*) FROM banchi") == [(3,)]
    assert rows(any_db, "SELECT COUNT(*) FROM qualifications") == [(3,)]
    with any_db.session() as s:
        run = s.get(ImportRun, result.run_id)
        assert (run.outcome, run.actor, run.export_id) == ("ok", "tester", "E1")
        assert run.counts["residents"]["rows"] == 5 and run.finished_at is not None
        assert run.changes["persons"]["new"] == 5 and run.changes["seconds"] >= 0
        # The first load into an empty database: everyone is new, counted but not listed one by one.
        assert run.changes["initial"] is True
        assert s.scalars(select(ImportChange.change).where(ImportChange.run_id == run.id)).all() == []
        at = run.finished_at if run.finished_at.tzinfo else run.finished_at.replace(tzinfo=timezone.utc)
        summary = last_import_summary(s, now=at)
        assert summary.startswith("基幹系データ: ") and summary.endswith(" 取込")
        assert "更新が止まっています" in last_import_summary(s, now=datetime(2030, 1, 1, tzinfo=timezone.utc))


def test_no_import_yet_summary(any_db):
    with any_db.session() as s:
        assert last_import_summary(s) == "基幹系データ: 未取込"


def test_non_bmp_and_ivs_names_survive_byte_for_byte(any_db, export_dir):
    import_export(any_db, export_dir, today=TODAY)
    names = dict(rows(any_db, "SELECT atena_no, name FROM persons"))
    for atena, want in (("A003", YOSHIDA), ("A004", KATSURAGI), ("A005", TSUCHIYA)):
        assert names[atena].encode("utf-8") == want.encode("utf-8")
    assert "\U000e0100" in names["A004"]  # the variation selector is kept, not normalised away


def test_second_identical_load_is_unchanged(any_db, export_dir):
    first = import_export(any_db, export_dir, today=TODAY)
    before = snapshot(any_db)
    second = import_export(any_db, export_dir, today=TODAY)
    assert second.outcome == "unchanged" and second.same_export
    assert second.changes["persons"] == {"new": 0, "moved": 0, "changed": 0, "removed": 0}
    assert all(v == [0, 0] for v in second.changes["tables"].values())
    assert snapshot(any_db) == before
    assert rows(any_db, "SELECT COUNT(*) FROM import_changes WHERE run_id = :r", r=second.run_id) == [(0,)]
    # persons keep the run that loaded them
    assert rows(any_db, "SELECT DISTINCT import_run_id FROM persons") == [(first.run_id,)]


def test_diff_of_a_changed_export(any_db, tmp_path):
    import_export(any_db, write_export(tmp_path / "e1"), today=TODAY)
    res = base_residents()
    res[1]["banchi"] = "2番地"  # A002 moved within the city
    res[1]["katagaki"] = ""
    res[0]["name_kana"] = "ヤマダ\u3000タロー"  # A001: reading corrected
    res[2].update(status="2", removed_on="2026-11-20", removal_reason="転出")  # A003 moved out
    del res[3]  # A004 no longer in the export at all
    res.append(person("A006", "佐藤\u3000健", "サトウ\u3000ケン", "H5", head=True, town="002", banchi="3番12号"))
    quals = base_qualifications() + [{"atena_no": "A006", "kind": "kokuho", "role": "head",
                                      "start_date": "2026-11-20"}]
    r = import_export(any_db, write_export(tmp_path / "e2", residents=res, qualifications=quals, export_id="E2"),
                      today=TODAY)
    assert r.outcome == "ok"
    assert r.changes["persons"] == {"new": 1, "moved": 1, "changed": 1, "removed": 2}
    got = dict(rows(any_db, "SELECT atena_no, change FROM import_changes WHERE run_id = :r", r=r.run_id))
    assert got == {"A006": "new", "A002": "moved", "A001": "changed", "A003": "removed", "A004": "removed"}
    assert rows(any_db, "SELECT banchi FROM person_addresses WHERE atena_no = 'A002'") == [("2番地",)]
    assert rows(any_db, "SELECT status FROM persons WHERE atena_no = 'A003'") == [("2",)]
    assert rows(any_db, "SELECT COUNT(*) FROM persons WHERE atena_no = 'A004'") == [(0,)]
    assert rows(any_db, "SELECT kana_key FROM persons WHERE atena_no = 'A001'") == [("ヤマダタロウ",)]
    assert rows(any_db, "SELECT COUNT(*) FROM qualifications") == [(4,)]
    with any_db.session() as s:
        assert s.get(ImportRun, r.run_id).changes["persons"]["removed"] == 2


def test_support_measure_end_lifts_restriction(any_db, tmp_path):
    import_export(any_db, write_export(tmp_path / "e1"), today=TODAY)
    r = import_export(any_db, write_export(tmp_path / "e1"), today=date(2027, 1, 10))  # measure ended 01-09
    assert r.outcome == "ok" and r.changes["restricted_updates"] == 2
    assert rows(any_db, "SELECT COUNT(*) FROM persons WHERE restricted = :t", t=True) == [(0,)]
    assert rows(any_db, "SELECT COUNT(*) FROM person_addresses WHERE restricted = :t", t=True) == [(0,)]


def test_export_without_optional_files(any_db, tmp_path):
    folder = write_export(tmp_path / "e")
    for name in ("support_measures.csv", "katagaki.csv"):
        (folder / name).unlink()
    write_manifest(folder, {"residents.csv": 5, "qualifications.csv": 3, "addresses.csv": 3})
    r = import_export(any_db, folder, today=TODAY)
    assert r.outcome == "ok" and "support_measures" not in r.counts


# --- bad input ---------------------------------------------------------------------------------------


def _bad_export(tmp_path, case: str):  # noqa: ANN202
    """An export with one bad residents row (A002, line 3) and the expected (column, reason part)."""
    folder = write_export(tmp_path / "bad")
    path = folder / "residents.csv"
    res = base_residents()
    rowcount = 5
    if case == "bad_date":
        res[1]["birth_date"] = "1985-02-30"
        want = ("birth_date", "存在しない日付")
    elif case == "unknown_town":
        res[1]["town_code"] = "999"
        want = ("town_code", "住所マスタにありません")
    elif case == "too_long":
        res[1]["name"] = "長" * 201
        want = ("name", "200文字を超えています")
    elif case == "duplicate":
        res[1]["atena_no"] = "A001"
        want = ("atena_no", "複数の行にあります")
    else:
        want = None
    write_csv(path, "residents", res)
    if case == "broken_quote":
        replace_line(path, 3, path.read_bytes().split(b"\r\n")[2].replace(b"A002,", b'A002,"H1"x', 1))
        want = ("", "引用符")
    elif case == "mojibake":
        line = path.read_bytes().split(b"\r\n")[2]
        replace_line(path, 3, line.replace("花子".encode(), "花子".encode("cp932")))
        want = ("name", "読めないバイト")
    elif case == "column_count":
        line = path.read_bytes().split(b"\r\n")[2]
        replace_line(path, 3, line + b",extra")
        want = ("", "列の数が見出しと違います")
    write_manifest(folder, {"residents.csv": rowcount, "qualifications.csv": 3, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1}, export_id="BAD")
    return folder, want


BAD_CASES = ["bad_date", "unknown_town", "too_long", "duplicate", "broken_quote", "mojibake", "column_count"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_row_is_quarantined_and_person_keeps_previous_data(any_db, tmp_path, case):
    import_export(any_db, write_export(tmp_path / "good"), today=TODAY)
    before = snapshot(any_db)
    folder, (column, reason) = _bad_export(tmp_path, case)
    r = import_export(any_db, folder, today=TODAY)
    assert r.quarantined >= 1
    issue = r.issues[0]
    assert issue.file == "residents.csv"
    assert issue.line == 3 or (case == "duplicate" and issue.line in (2, 3))
    assert issue.column == column
    assert reason in issue.reason
    # Nobody lost: the bad row's person keeps the previous data; the good rows are as before.
    # (In the duplicate case A002's row became a second A001: A001 is held, A002 is gone.)
    want = [p for p in before["persons"] if case != "duplicate" or p[0] != "A002"]
    assert snapshot(any_db)["persons"] == want
    with any_db.session() as s:
        stored = s.scalars(select(ImportIssue).where(ImportIssue.run_id == r.run_id)).all()
        assert len(stored) == r.quarantined and reason in stored[0].reason
        assert s.get(ImportRun, r.run_id).quarantined == r.quarantined
    assert "不正な行" in r.message


@pytest.mark.parametrize("case", ["bad_date", "duplicate", "mojibake"])
def test_bad_row_aborts_under_abort_policy(any_db, tmp_path, case):
    import_export(any_db, write_export(tmp_path / "good"), today=TODAY)
    before = snapshot(any_db)
    folder, (_column, reason) = _bad_export(tmp_path, case)
    with pytest.raises(ImportFailed, match="取込を中止しました") as exc:
        import_export(any_db, folder, ABORT, today=TODAY)
    assert "residents.csv" in exc.value.message and "前回のデータはそのままです" in exc.value.message
    assert snapshot(any_db) == before
    with any_db.session() as s:
        run = s.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
        assert run.outcome == "failed" and "取込を中止" in run.message
        issues = s.scalars(select(ImportIssue).where(ImportIssue.run_id == run.id)).all()
        assert issues and reason in issues[0].reason
        assert "（最新の取込は失敗）" in last_import_summary(s)


@pytest.mark.parametrize("case", ["bad_date", "duplicate"])
def test_bad_new_person_is_left_out_but_others_load(any_db, tmp_path, case):
    # A first load: the person of a bad row has no previous data, so is not there at all.
    folder, _ = _bad_export(tmp_path, case)
    r = import_export(any_db, folder, today=TODAY)
    assert r.outcome == "ok"
    # (duplicate: A002's row became a second A001, and both rows of A001 are held)
    want = ["A001", "A003", "A004", "A005"] if case == "bad_date" else ["A003", "A004", "A005"]
    assert [a for (a,) in rows(any_db, "SELECT atena_no FROM persons ORDER BY atena_no")] == want
    assert [a for (a,) in rows(any_db, "SELECT atena_no FROM person_addresses ORDER BY atena_no")] == want
    # A002's qualification is held back with the person
    assert rows(any_db, "SELECT COUNT(*) FROM qualifications WHERE atena_no = 'A002'") == [(0,)]


def test_bad_support_measure_row_restricts_for_safety(any_db, tmp_path):
    support = base_support() + [{"atena_no": "A001", "start_date": "2026-02-30", "kind": "dv"}]
    r = import_export(any_db, write_export(tmp_path / "e", support=support), today=TODAY)
    assert r.issues[0].file == "support_measures.csv" and r.issues[0].column == "start_date"
    assert rows(any_db, "SELECT atena_no FROM persons WHERE restricted = :t ORDER BY atena_no", t=True) == [
        ("A001",), ("A005",)]


def test_qualification_for_unknown_person_is_reported(any_db, tmp_path):
    quals = base_qualifications() + [{"atena_no": "Z999", "kind": "kokuho", "start_date": "2020-01-01"}]
    r = import_export(any_db, write_export(tmp_path / "e", qualifications=quals), today=TODAY)
    assert [(i.file, i.line, i.column) for i in r.issues] == [("qualifications.csv", 5, "atena_no")]
    assert "住民ファイルにありません" in r.issues[0].reason


@pytest.mark.parametrize("start", ["2010-05-01", ""])
def test_duplicate_qualifications_are_found_also_without_a_start_date(any_db, tmp_path, start):
    """Two rows of one person, kind and start date; two empty start dates count as the same date."""
    quals = base_qualifications() + [
        {"atena_no": "A004", "kind": "kokuho", "start_date": start},
        {"atena_no": "A004", "kind": "kokuho", "start_date": start},
        {"atena_no": "A004", "kind": "kouki", "start_date": start},  # another kind: not a duplicate
        {"atena_no": "A005", "kind": "kokuho", "start_date": ""},  # one undated row beside a dated one
        {"atena_no": "A005", "kind": "kokuho", "start_date": "2010-05-01"},
    ]
    r = import_export(any_db, write_export(tmp_path / "e", qualifications=quals), today=TODAY)
    assert sorted((i.file, i.line, i.key) for i in r.issues) == [
        ("qualifications.csv", 5, "A004"), ("qualifications.csv", 6, "A004")]
    assert all("同じ開始日で重複" in i.reason for i in r.issues)
    assert r.counts["qualifications"] == {**r.counts["qualifications"], "rows": 8, "loaded": 6, "quarantined": 2}
    # a first load: the held person keeps what they had, which is nothing
    assert rows(any_db, "SELECT atena_no, kind FROM qualifications ORDER BY atena_no, kind, start_date") == [
        ("A001", "kokuho"), ("A002", "kokuho"), ("A003", "kouki"), ("A005", "kokuho"), ("A005", "kokuho")]


def test_unknown_qualification_kind_is_kept(any_db, tmp_path):
    quals = base_qualifications() + [{"atena_no": "A001", "kind": "shuukan_kumiai", "start_date": "2020-01-01"}]
    r = import_export(any_db, write_export(tmp_path / "e", qualifications=quals), today=TODAY)
    assert not r.issues
    assert rows(any_db, "SELECT kind FROM qualifications WHERE kind = 'shuukan_kumiai'") == [("shuukan_kumiai",)]



def test_first_load_rebuilds_every_index_and_constraint_it_dropped(pg_db, export_dir, monkeypatch):
    """Filling empty tables, the loader drops their indexes, primary keys and unique constraints and
    builds them after the insert: afterwards they are exactly the migrations' (names, definitions)."""
    import madoguchi.sync.importer as importer
    monkeypatch.setattr(importer, "REBUILD_MIN_ROWS", 1)  # the fixture's handful of rows counts as many
    tables = ("persons", "person_addresses", "qualifications", "support_measures", "banchi", "katagaki")

    def schema() -> tuple[list[tuple], list[tuple], set[int]]:
        indexes = rows(pg_db, "SELECT i.indrelid::regclass::text, c.relname, pg_get_indexdef(i.indexrelid) "
                              "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                              "WHERE i.indrelid::regclass::text = ANY(:t) ORDER BY 1, 2", t=list(tables))
        constraints = rows(pg_db, "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM "
                                  "pg_constraint WHERE conrelid::regclass::text = ANY(:t) ORDER BY 1, 2", t=list(tables))
        oids = {r[0] for r in rows(pg_db, "SELECT indexrelid::int FROM pg_index WHERE indrelid::regclass::text = ANY(:t)",
                                   t=list(tables))}
        return indexes, constraints, oids

    indexes, constraints, oids = schema()
    assert any(c[2].startswith("PRIMARY KEY") for c in constraints) and any(c[2].startswith("UNIQUE") for c in constraints)
    r = import_export(pg_db, export_dir, today=TODAY)
    assert r.outcome == "ok" and not r.issues
    after = schema()
    assert after[:2] == (indexes, constraints)
    assert not after[2] & oids  # every one of them was built anew, none kept
    assert rows(pg_db, "SELECT COUNT(*) FROM persons") == [(5,)]



@pytest.mark.parametrize("full", [True, False])
def test_reload_replaces_exactly_the_changed_rows(any_db, tmp_path, full):
    """An empty date that gets a value, a date that becomes empty: those rows are replaced, the
    others keep their row (and id), the full way as the nightly way."""
    quals = base_qualifications() + [{"atena_no": "A004", "kind": "kaigo", "start_date": ""}]
    import_export(any_db, write_export(tmp_path / "e1", qualifications=quals), today=TODAY)
    ids = dict(rows(any_db, "SELECT atena_no, id FROM qualifications"))
    quals[0] = {**quals[0], "end_date": "2026-03-31"}  # NULL -> a date
    quals[3] = {**quals[3], "start_date": "2020-04-01"}  # NULL -> a date, in the key
    quals[2] = {**quals[2], "start_date": ""}  # a date -> NULL
    r = import_export(any_db, write_export(tmp_path / "e2", qualifications=quals, export_id="E2"), today=TODAY,
                      full=full)
    assert r.changes["tables"]["qualifications"] == [3, 3]
    after = dict(rows(any_db, "SELECT atena_no, id FROM qualifications"))
    assert after["A002"] == ids["A002"] and all(after[a] != ids[a] for a in ("A001", "A003", "A004"))
    got = rows(any_db, "SELECT atena_no, start_date, end_date FROM qualifications ORDER BY atena_no")
    assert [(a, str(s) if s else None, str(e) if e else None) for a, s, e in got] == [
        ("A001", "2010-05-01", "2026-03-31"), ("A002", "2010-05-01", None), ("A003", None, None),
        ("A004", "2020-04-01", None)]
    again = import_export(any_db, write_export(tmp_path / "e3", qualifications=quals, export_id="E3"), today=TODAY,
                          full=full)
    assert again.changes["tables"]["qualifications"] == [0, 0]


def test_rows_added_after_a_first_load_take_new_ids(any_db, tmp_path):
    """A first load numbers the rows of an empty table itself (from their lines): the next load's new
    rows must still get ids of their own, after those."""
    quals = base_qualifications()
    import_export(any_db, write_export(tmp_path / "e1", qualifications=quals), today=TODAY)
    first = rows(any_db, "SELECT id FROM qualifications ORDER BY id")
    quals += [{"atena_no": a, "kind": "kaigo", "start_date": "2026-04-01"} for a in ("A001", "A002", "A003")]
    r = import_export(any_db, write_export(tmp_path / "e2", qualifications=quals, export_id="E2"), today=TODAY)
    assert r.changes["tables"]["qualifications"] == [0, 3]
    new = rows(any_db, "SELECT id FROM qualifications WHERE kind = 'kaigo'")
    assert len(new) == 3 and min(new) > max(first)
    assert rows(any_db, "SELECT id FROM qualifications WHERE kind <> 'kaigo' ORDER BY id") == first


# --- whole-export failures -------------------------------------------------------------------------


def _assert_rejected(db, folder, match: str, before) -> None:  # noqa: ANN001
    with pytest.raises(ImportFailed, match=match):
        import_export(db, folder, today=TODAY)
    assert snapshot(db) == before
    with db.session() as s:
        run = s.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
        assert run.outcome == "failed" and run.message


def test_hash_mismatch_rejects_the_export(any_db, tmp_path):
    import_export(any_db, write_export(tmp_path / "good"), today=TODAY)
    before = snapshot(any_db)
    folder = write_export(tmp_path / "e", export_id="E2")
    with open(folder / "residents.csv", "ab") as fh:
        fh.write("A009,,H9,1,,1,1,x,,,,,,1990-01-01,1,001,1番地,,,,,,,,,,,,,,,\r\n".encode())
    _assert_rejected(any_db, folder, "SHA-256 と一致しません", before)


def test_row_count_mismatch_rejects_the_export(any_db, tmp_path):
    import_export(any_db, write_export(tmp_path / "good"), today=TODAY)
    before = snapshot(any_db)
    folder = write_export(tmp_path / "e", export_id="E2")
    write_manifest(folder, {"residents.csv": 6, "qualifications.csv": 3, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1})
    _assert_rejected(any_db, folder, "行数がマニフェストと違います", before)


def _fail_in_a_later_file(db, tmp_path, workers: int | None = None, full: bool = False) -> None:  # noqa: ANN001
    import_export(db, write_export(tmp_path / "good"), today=TODAY)
    before = snapshot(db)
    res = base_residents()
    res[0]["name"] = "山田\u3000一郎"
    res.append(person("A006", "新井\u3000新", "アライ\u3000シン", "H5", head=True, banchi="2番地"))
    folder = write_export(tmp_path / "e", residents=res, export_id="E2")
    write_manifest(folder, {"residents.csv": 6, "qualifications.csv": 4, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1}, "E2")
    with pytest.raises(ImportFailed, match="qualifications.csv の行数がマニフェストと違います"):
        import_export(db, folder, today=TODAY, workers=workers, full=full)
    assert snapshot(db) == before


def test_failure_in_a_later_file_undoes_the_persons_already_written(any_db, tmp_path):
    """The persons are written before the qualifications are read (their parsing overlaps that
    write): a qualifications file that turns out shorter than the manifest says must still leave
    every table as it was, persons included."""
    _fail_in_a_later_file(any_db, tmp_path)


def test_failure_in_a_later_file_parsed_ahead_by_the_workers(pg_db, tmp_path):
    """The same, read the full way: the qualifications are parsed by worker processes while the
    persons are written."""
    _fail_in_a_later_file(pg_db, tmp_path, workers=3, full=True)


def test_unclosed_quote_swallowing_rows_rejects_the_export(any_db, tmp_path):
    import_export(any_db, write_export(tmp_path / "good"), today=TODAY)
    before = snapshot(any_db)
    folder = write_export(tmp_path / "e", export_id="E2")
    path = folder / "residents.csv"
    replace_line(path, 3, path.read_bytes().split(b"\r\n")[2].replace(b",H1,", b',"H1,', 1))
    write_manifest(folder, {"residents.csv": 5, "qualifications.csv": 3, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1})
    _assert_rejected(any_db, folder, "引用符", before)


def test_missing_manifest_and_missing_column(any_db, tmp_path):
    folder = write_export(tmp_path / "e")
    (folder / "manifest.json").unlink()
    with pytest.raises(ImportFailed, match="manifest.json がありません"):
        import_export(any_db, folder, today=TODAY)
    folder = write_export(tmp_path / "e2")
    path = folder / "residents.csv"
    replace_line(path, 1, path.read_bytes().split(b"\r\n")[0].replace(b"birth_date", b"birthday"))
    write_manifest(folder, {"residents.csv": 5, "qualifications.csv": 3, "support_measures.csv": 1,
                            "addresses.csv": 3, "katagaki.csv": 1})
    with pytest.raises(ImportFailed, match="必要な列「birth_date」"):
        import_export(any_db, folder, today=TODAY)
    with any_db.session() as s:
        assert s.scalars(select(ImportRun.outcome)).all() == ["failed", "failed"]


def test_manifest_with_files_as_mapping_and_bad_kind(any_db, tmp_path):
    folder = write_export(tmp_path / "e")
    m = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    m["files"] = {f["name"]: {"rows": f["rows"], "sha256": f["sha256"]} for f in m["files"]}
    (folder / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    assert import_export(any_db, folder, today=TODAY).outcome == "ok"
    m["kind"] = "delta"
    (folder / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(ImportFailed, match="full のみ"):
        import_export(any_db, folder, today=TODAY)


def test_summary_text_in_japan_time(any_db, export_dir):
    r = import_export(any_db, export_dir, today=TODAY)
    with any_db.session() as s:
        run = s.get(ImportRun, r.run_id)
        run.finished_at = datetime(2026, 11, 23, 21, 0, tzinfo=timezone.utc)  # 2026-11-24 06:00 JST
        s.commit()
        now = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
        assert last_import_summary(s, now=now) == "基幹系データ: 2026-11-24 06:00 取込"


def test_address_master_duplicates_and_unknown_katagaki(any_db, tmp_path):
    from kikan_fixtures import ADDRESSES, KATAGAKI
    addresses = ADDRESSES + [dict(ADDRESSES[0])]
    katagaki = KATAGAKI + [{"town_code": "001", "banchi": "99番地", "katagaki": "幻ハイツ"}]
    r = import_export(any_db, write_export(tmp_path / "e", addresses=addresses, katagaki=katagaki), today=TODAY)
    assert sorted((i.file, i.line) for i in r.issues) == [("addresses.csv", 5), ("katagaki.csv", 3)]
    assert "重複" in r.issues[0].reason or "重複" in r.issues[1].reason
    for kind in ("addresses", "katagaki"):  # the rows the checks left out are not counted as loaded
        c = r.counts[kind]
        assert (c["quarantined"], c["loaded"]) == (1, c["rows"] - 1)
    assert rows(any_db, "SELECT COUNT(*) FROM banchi") == [(3,)]
    assert rows(any_db, "SELECT katagaki FROM katagaki") == [("本町ハイツ101号",)]


@pytest.mark.parametrize("workers", [1, 3])
def test_parallel_parsing_gives_the_same_result(pg_db, tmp_path, workers):
    """On PostgreSQL big files are parsed by several processes; the outcome must not differ."""
    res = base_residents()
    res[3]["birth_date"] = "1985-02-30"  # a bad row in a later chunk keeps its own line number
    res[1]["moved_in_from"] = "札幌市中央区\n北1条西2丁目"  # a quoted newline must not split a record
    quals = base_qualifications()
    quals[1]["start_date"] = "2010-02-30"  # parsed ahead, while the persons are written
    folder = write_export(tmp_path / "e", residents=res, qualifications=quals)
    r = import_export(pg_db, folder, today=TODAY, workers=workers)
    assert [(i.file, i.line, i.column) for i in r.issues] == [("residents.csv", 6, "birth_date"),
                                                              ("qualifications.csv", 3, "start_date")]
    assert r.counts["residents"] == {**r.counts["residents"], "rows": 5, "loaded": 4, "quarantined": 1}
    assert rows(pg_db, "SELECT moved_in_from FROM person_addresses WHERE atena_no = 'A002'") == [
        ("札幌市中央区\n北1条西2丁目",)]
    names = dict(rows(pg_db, "SELECT atena_no, name FROM persons"))
    assert names["A003"] == YOSHIDA and len(names) == 4
    # A002's qualifications are held at their previous state (none before this first load).
    assert rows(pg_db, "SELECT atena_no FROM qualifications ORDER BY atena_no") == [("A001",), ("A003",)]


@pytest.mark.parametrize("workers", [1, 3])
def test_values_reach_postgresql_as_read_in_binary_copy(pg_db, tmp_path, workers):
    """Staging is written in PostgreSQL's binary COPY format (by this process, or by the workers):
    dates, timestamps (a plain one is Japan's time), flags, empty texts and hashes arrive as the text
    path read them, and a second load of the same export finds every record's hash again."""
    res = base_residents()
    res[0].update(updated_at="2026-11-20T10:00:00+09:00", removed_on="", former_surname="")
    res[1].update(updated_at="2026-11-20T01:00:00+00:00", birth_date="1904-02-29")
    res[2].update(updated_at="", resident_since="")
    res[4].update(updated_at="0999-01-01 00:00")  # read as written, not as a year the parser cannot take back
    folder = write_export(tmp_path / "e", residents=res)
    first = import_export(pg_db, folder, today=TODAY, workers=workers)
    assert first.outcome == "ok" and not first.issues
    got = {a: r for a, *r in rows(pg_db, "SELECT atena_no, updated_at, birth_date, resident_since, removed_on, "
                                         "former_surname, is_householder, name FROM persons")}
    ten_jst = datetime(2026, 11, 20, 1, 0, tzinfo=timezone.utc)
    assert got["A001"] == [ten_jst, date(1980, 4, 1), date(2000, 4, 1), None, "", True, "山田\u3000太郎"]
    assert got["A002"][:2] == [ten_jst, date(1904, 2, 29)] and got["A002"][5] is False
    assert got["A003"][0] is None and got["A003"][2] is None and got["A003"][6] == YOSHIDA
    assert got["A004"][0] == ten_jst  # 2026-11-20 10:00:00, no zone: JST
    assert got["A005"][0] == datetime(999, 1, 1, tzinfo=JST)
    hashes = rows(pg_db, "SELECT COUNT(DISTINCT source_hash) FROM person_addresses WHERE source_hash IS NOT NULL")
    assert hashes == [(5,)]
    again = import_export(pg_db, folder, today=TODAY, workers=workers)
    assert again.outcome == "unchanged" and all(v == [0, 0] for v in again.changes["tables"].values())


def test_chunks_never_split_a_quoted_field(tmp_path):
    from madoguchi.sync.mapping import default_mapping
    from madoguchi.sync.reader import FileReader
    from madoguchi.sync.records import guess_chunks

    res = base_residents() * 20
    for n, r in enumerate(res):
        r = res[n] = dict(r, atena_no=f"B{n:04d}")
        if n % 7 == 0:
            r["moved_in_from"] = "旭川市\n" * 30 + "\"1条\""
    path = tmp_path / "residents.csv"
    write_csv(path, "residents", res)
    fm = default_mapping().files["residents"]
    header, data_start = FileReader(path, fm, print).read_header()
    chunks = guess_chunks(path, data_start, path.stat().st_size, 40, 1)
    assert len(chunks) > 10
    seen, issues = [], []
    for start, end, base in chunks:
        reader = FileReader(path, fm, issues.append, start=start, end=end, line_base=base, header=header)
        seen += [(line, v[0]) for line, _raw, v in reader]
    whole = [(line, v[0]) for line, _raw, v in FileReader(path, fm, issues.append)]
    assert not issues and seen == whole and len(whole) == len(res)


def test_address_key_from_parts_equals_the_fold_of_the_whole():
    # Characters that look back across a boundary (long vowel marks, voiced sound marks, combining
    # marks, half-width kana, spaces, hyphens) next to the usual ones.
    alphabet = list("アイウカキガパッャーｰ〜～-‐－゛゜ﾞﾟｶｷﾊ\u3099\u309a　 ・･あかが1２ABｃ番地号丁目深川音江町")
    rnd = random.Random(7)
    parts = ["", "1番2号", "コーポ101", "ーハイツ", "ﾞ", " 2", "-3", "\u3099"]
    cases = [(t, b, k) for t in ("", "音江町", "ｶ", "カ") for b in parts for k in parts]
    for _ in range(20000):
        t, b, k = ("".join(rnd.choice(alphabet) for _ in range(rnd.randrange(5))) for _ in range(3))
        cases.append((t, b, k))
    for t, b, k in cases:
        assert _fold_address(t, b, k) == fold_kana(t + b + k), (t, b, k)


def test_temp_buffers_make_room_for_the_staging_of_a_big_export(tmp_path):
    from sqlalchemy import create_engine

    from madoguchi.sync.importer import _Load
    from madoguchi.sync.mapping import default_mapping

    def size_for(mb_per_file: dict[str, int]) -> str:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        for name, mb in mb_per_file.items():
            with open(folder / name, "wb") as fh:  # sparse: only the size counts
                fh.truncate(mb * 1_000_000)
        return _Load(create_engine("sqlite://"), folder, default_mapping(), "t", None, TODAY)._temp_buffers()

    assert size_for({"residents.csv": 6, "qualifications.csv": 3}) == "512MB"  # a city's export: as before
    assert size_for({"residents.csv": 283, "qualifications.csv": 125, "addresses.csv": 25, "katagaki.csv": 7,
                     "stray.csv": 900}) == "1100MB"  # 1M residents; a file the mapping does not name is not read
    assert size_for({"residents.csv": 2000}) == "2048MB"
