"""evolve_export: the next day of a generated export loads through the real importer with the changes
evolve says it made; unchanged rows stay byte for byte; the same input gives the same output."""

from __future__ import annotations

import csv
import doctest
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from madoguchi.cli.admin import main
from madoguchi.errors import InputError
from madoguchi.sync import evolve
from madoguchi.sync import names as N
from madoguchi.sync.evolve import EvolveRates, evolve_export
from madoguchi.sync.generator import FILES, _check_digit, generate_export
from madoguchi.sync.importer import import_export

TODAY = date(2026, 11, 25)
RESIDENTS = 2_000
# a busy day, so that 2,000 residents meet every kind of change
BUSY = replace(EvolveRates().scaled(8), support_new=2.0, support_end=2.0, building_new=2.0, banchi_new=2.0)


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return generate_export(tmp_path_factory.mktemp("src") / "export", RESIDENTS, seed=5, today=TODAY)


@pytest.fixture(scope="module")
def evolved(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("next") / "export"
    return out, evolve_export(source, out, seed=11, rates=BUSY)


def expected_persons(changes: Counter) -> dict[str, int]:
    """The importer's person counts that follow from evolve's change counts (one event per household)."""
    return {
        "new": changes["birth"] + changes["move_in_persons"],
        "moved": changes["move_within_persons"] + changes["household_split"],
        "changed": changes["head_change_persons"] + changes["card_issued"] + changes["card_renewed"]
        + changes["e_cert_renewed"] + changes["residence_renewed"],
        "removed": changes["death"] + changes["move_out_persons"],
    }


# ----- the importer agrees -----------------------------------------------------------------------------


def test_the_next_day_loads_with_the_changes_evolve_reports(any_db, source, evolved):
    out, summary = evolved
    first = import_export(any_db, source, today=TODAY)
    assert first.outcome == "ok" and first.issues == []
    result = import_export(any_db, out, today=summary.today)
    assert result.issues == [], [i.text() for i in result.issues[:5]]
    assert result.outcome == "ok"
    assert result.changes["persons"] == summary.persons == expected_persons(summary.changes)
    assert all(summary.persons[k] > 0 for k in ("new", "moved", "changed", "removed"))
    for kind, name in (("residents", "residents.csv"), ("qualifications", "qualifications.csv"),
                       ("support_measures", "support_measures.csv"), ("addresses", "addresses.csv"),
                       ("katagaki", "katagaki.csv")):
        assert result.counts[kind]["loaded"] == summary.rows[name]
    with any_db.engine.connect() as c:
        current = c.execute(text("SELECT COUNT(*) FROM persons WHERE status = '1'")).scalar()
    assert current == summary.current_residents


def test_several_days_at_once_load_too(any_db, source, tmp_path):
    summary = evolve_export(source, tmp_path / "day3", seed=2, days=3, rates=EvolveRates().scaled(3))
    assert summary.today == TODAY + timedelta(days=3) and summary.days == 3
    assert import_export(any_db, source, today=TODAY).issues == []
    result = import_export(any_db, tmp_path / "day3", today=summary.today)
    assert result.issues == [] and result.outcome == "ok"
    assert result.changes["persons"] == summary.persons
    assert [p.name for p in (tmp_path / "day3").iterdir() if p.name.startswith(".")] == []  # work folder gone


def test_default_rates_change_about_half_a_percent_of_the_rows(source, tmp_path):
    summary = evolve_export(source, tmp_path / "n", seed=1)
    changed = sum(summary.persons.values())
    assert 0.001 * RESIDENTS <= changed <= 0.012 * RESIDENTS
    assert summary.persons == expected_persons(summary.changes)


# ----- rows and files ------------------------------------------------------------------------------------


def test_unchanged_rows_stay_byte_identical_and_in_place(source, evolved):
    out, summary = evolved
    p = summary.persons
    old, new = lines(source / "residents.csv"), lines(out / "residents.csv")
    assert old[0] == new[0]
    # residents: rows keep their line; new persons (the next atena numbers) are appended
    assert len(new) - len(old) == p["new"]
    assert sum(a != b for a, b in zip(old, new)) == p["moved"] + p["changed"] + p["removed"]
    # qualifications / support measures: the untouched rows in the same order, new rows in between
    for name in ("qualifications.csv", "support_measures.csv"):
        old, new = lines(source / name), lines(out / name)
        kept_old, kept_new = set(old), set(new)
        assert [x for x in old if x in kept_new] == [x for x in new if x in kept_old]
    changes = summary.changes
    old_q, new_q = lines(source / "qualifications.csv"), lines(out / "qualifications.csv")
    gone = len(set(old_q) - set(new_q))
    assert 0 < gone <= changes["qualification_ended"] + changes["qualification_changed"]
    assert len(new_q) - len(old_q) <= changes["qualification_started"]
    # the address master: new entries at the end
    for name, added in (("addresses.csv", changes["banchi_added"]), ("katagaki.csv", changes["katagaki_added"])):
        old, new = lines(source / name), lines(out / name)
        assert new[:len(old)] == old and len(new) - len(old) == added > 0


def test_files_stay_in_atena_order(evolved):
    out, _ = evolved
    for name in ("residents.csv", "qualifications.csv", "support_measures.csv"):
        keys = [int(r["atena_no"]) for r in read(out / name)]
        assert keys == sorted(keys), name


def test_same_input_gives_the_same_bytes(source, evolved, tmp_path):
    out, summary = evolved
    before = {name: (source / name).read_bytes() for name in (*FILES, "manifest.json")}
    again = evolve_export(source, tmp_path / "again", seed=11, rates=BUSY)
    for name in (*FILES, "manifest.json"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    assert again.changes == summary.changes and again.persons == summary.persons
    other = evolve_export(source, tmp_path / "other", seed=12, rates=BUSY)
    assert (tmp_path / "other" / "residents.csv").read_bytes() != (out / "residents.csv").read_bytes()
    assert other.today == summary.today
    assert {name: (source / name).read_bytes() for name in before} == before  # the source is only read


def test_doctests():
    assert doctest.testmod(evolve).failed == 0


def test_manifest_describes_the_files(source, evolved):
    out, summary = evolved
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    previous = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "full"
    assert manifest["created_at"] == "2026-11-26T06:00:00+09:00"
    assert manifest["export_id"] == summary.export_id != previous["export_id"]
    assert manifest["export_id"].startswith("demo-20261126-evolve-s11-")
    assert manifest["previous_export_id"] == previous["export_id"]
    assert [f["name"] for f in manifest["files"]] == list(FILES)
    for f in manifest["files"]:
        data = (out / f["name"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["bytes"] == len(data)
        assert f["rows"] == len(data.splitlines()) - 1 == summary.rows[f["name"]]


# ----- what the changes look like -----------------------------------------------------------------------


def test_new_people_follow_the_generators_formats(source, evolved):
    out, summary = evolved
    before = {r["atena_no"] for r in read(source / "residents.csv")}
    old_households = {r["household_no"] for r in read(source / "residents.csv")}
    rows = read(out / "residents.csv")
    new = [r for r in rows if r["atena_no"] not in before]
    assert len(new) == summary.persons["new"]
    assert len({r["atena_no"] for r in rows}) == len(rows)
    assert len({r["juminhyo_code"] for r in rows}) == len(rows)
    top = max(int(a) for a in before)
    surnames = {s for s, _, _ in N.SURNAMES} | {s for f in N.FOREIGN for s, _, _ in f[3]}
    given = {g for _, m, f in N.GIVEN_NAMES for g, _ in m + f} | {g for f in N.FOREIGN for g, _, _ in f[4] + f[5]}
    for r in new:
        a = int(r["atena_no"])
        assert a > top and (a - 1_000_000_000) % 7 == 0 and len(r["atena_no"]) == 10
        code = r["juminhyo_code"]
        assert len(code) == 11 and code.isdigit() and _check_digit(code[:10]) == code[10]
        sn, gn = r["name"].split("\u3000")
        assert sn in surnames and gn in given, r["name"]
        assert r["status"] == "1" and r["updated_at"].startswith("2026-11-25T")
    births = [r for r in new if r["household_no"] in old_households]
    assert len(births) == summary.changes["birth"] > 0
    assert {r["relationship"] for r in births} <= {"子", "孫"}
    quals = defaultdict(set)
    for q in read(out / "qualifications.csv"):
        quals[q["atena_no"]].add(q["kind"])
    assert all("kodomo_iryou" in quals[r["atena_no"]] for r in births)
    for r in new:
        if r["household_no"] not in old_households:
            assert (int(r["household_no"]) - 30_000_000) % 3 == 0 and len(r["household_no"]) == 9


def test_households_stay_consistent(source, evolved):
    out, summary = evolved
    old = {r["atena_no"]: r for r in read(source / "residents.csv")}
    rows = read(out / "residents.csv")
    households = defaultdict(list)
    for r in rows:
        if r["status"] == "1":
            households[r["household_no"]].append(r)
    for hno, members in households.items():
        assert sum(m["is_householder"] == "1" for m in members) == 1, hno
        assert len({(m["town_code"], m["banchi"], m["katagaki"]) for m in members}) == 1, hno
    # one current household per dwelling
    places = defaultdict(set)
    for hno, members in households.items():
        m = members[0]
        places[(m["town_code"], m["banchi"], m["katagaki"])].add(hno)
    assert all(len(h) == 1 for h in places.values())
    changed = [r for r in rows if r["atena_no"] in old and old[r["atena_no"]] != r]
    assert changed and all(r["updated_at"].startswith("2026-11-25T") for r in changed)
    for r in changed:
        was = old[r["atena_no"]]
        if r["status"] != was["status"]:
            assert was["status"] == "1" and r["removal_reason"] == {"2": "転出", "3": "死亡"}[r["status"]]
            assert r["removed_on"] <= "2026-11-25"
        elif r["town_code"] != was["town_code"] or r["banchi"] != was["banchi"]:
            assert r["address_since"] > was["address_since"] and r["moved_in_from"].startswith("北海道深川市")
    assert sum(r["relationship"] == "世帯主" and old[r["atena_no"]]["relationship"] != "世帯主"
               for r in changed) >= summary.changes["head_change"]
    # nobody who left keeps a current qualification
    gone = {r["atena_no"] for r in rows if r["status"] != "1"}
    assert all(q["end_date"] for q in read(out / "qualifications.csv") if q["atena_no"] in gone)


def test_a_support_measure_about_to_end_is_extended(source, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in FILES:
        (src / name).write_bytes((source / name).read_bytes())
    person = next(r["atena_no"] for r in read(src / "residents.csv") if r["status"] == "1")
    with (src / "support_measures.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(["atena_no", "start_date", "end_date", "kind", "note"])
        w.writerow([person, "2025-12-06", "2026-12-05", "dv", "加害者：配偶者（別居中）"])
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    for f in manifest["files"]:
        data = (src / f["name"]).read_bytes()
        f["sha256"], f["rows"], f["bytes"] = hashlib.sha256(data).hexdigest(), len(data.splitlines()) - 1, len(data)
    (src / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    summary = evolve_export(src, tmp_path / "out", seed=1,
                            rates=replace(EvolveRates(), support_extend=1.0, support_end=0, support_new=0))
    assert summary.changes["support_extended"] == 1
    after = [(r["atena_no"], r["start_date"], r["end_date"]) for r in read(tmp_path / "out" / "support_measures.csv")]
    assert after == [(person, "2025-12-06", "2026-12-05"), (person, "2026-12-06", "2027-12-05")]


# ----- bad input ------------------------------------------------------------------------------------------


def test_bad_sources_are_refused_in_japanese(source, tmp_path):
    with pytest.raises(InputError, match="元データのフォルダ.*がありません"):
        evolve_export(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="manifest.json がありません"):
        evolve_export(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(InputError, match="2026-11-26 以降を指定してください"):
        evolve_export(source, tmp_path / "out", today=TODAY)
    with pytest.raises(InputError, match="同じフォルダ"):
        evolve_export(source, source)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in (*FILES, "manifest.json"):
        (broken / name).write_bytes((source / name).read_bytes())
    with (broken / "qualifications.csv").open("ab") as fh:
        fh.write(b"1000000007,inkan,holder,2020-01-01,,\r\n")
    with pytest.raises(InputError, match="qualifications.csv が manifest.json と一致しません"):
        evolve_export(broken, tmp_path / "out")


# ----- madoguchi-admin demo evolve ------------------------------------------------------------------------


def test_cli_demo_evolve(source, tmp_path, capsys):
    out = tmp_path / "next"
    assert main(["demo", "evolve", "--from", str(source), "--out", str(out), "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"翌日分の架空データを出力しました: {out}" in printed
    assert "日付 2026-11-25 → 2026-11-26" in printed and "取込で見込まれる変更: 転入等" in printed
    for label in ("転居", "転出", "転入", "出生", "死亡", "世帯主変更", "マイナンバーカード交付", "国保加入",
                  "支援措置:", "番地の追加"):
        assert label in printed
    direct = evolve_export(source, tmp_path / "direct", seed=4)
    assert (out / "residents.csv").read_bytes() == (tmp_path / "direct" / "residents.csv").read_bytes()
    assert f"転入等 {direct.persons['new']} 人" in printed

    # an existing output needs --force
    assert main(["demo", "evolve", "--from", str(source), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "既にデータがあります" in err and "--force" in err
    assert main(["demo", "evolve", "--from", str(source), "--out", str(out), "--force", "--days", "2",
                 "--today", "2026-11-28"]) == 0
    assert "2026-11-25 → 2026-11-28（2 日分）" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["created_at"].startswith("2026-11-28")


@pytest.mark.parametrize("make, message", [
    (lambda tmp, src: tmp / "missing", "元データのフォルダ「.*」がありません。.*--from に指定してください"),
    (lambda tmp, src: tmp, "manifest.json がありません"),
])
def test_cli_demo_evolve_refuses_a_bad_source(source, tmp_path, capsys, make, message):
    import re

    assert main(["demo", "evolve", "--from", str(make(tmp_path, source)), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("エラー: ") and re.search(message, err), err
    assert not (tmp_path / "o" / "residents.csv").exists()


@pytest.mark.parametrize("argv, message", [
    (["--today", "2026/11/30"], "YYYY-MM-DD"),
    (["--days", "0"], "日数は 1 から"),
    (["--scale", "-1"], "倍率は 0 から"),
])
def test_cli_demo_evolve_rejects_bad_options(source, tmp_path, capsys, argv, message):
    assert main(["demo", "evolve", "--from", str(source), "--out", str(tmp_path / "o"), *argv]) == 1
    assert message in capsys.readouterr().err


def test_cli_demo_evolve_help_is_japanese(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "evolve", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("使い方: madoguchi-admin demo evolve ")
    assert "元データのフォルダ" in out and "このヘルプを表示して終了します" in out
