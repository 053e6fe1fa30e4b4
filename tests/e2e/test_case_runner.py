"""The headless case runner plays each example visit through the same services as the GUI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from madoguchi.cli import cmd_case
from madoguchi.errors import KnownError
from madoguchi.services import case_runner
from madoguchi.services.cases import CaseService
from madoguchi.services.context import Actor

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database")
    cmd_case.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_there_is_a_case_for_every_move_type():
    types = {case_runner.load_case_file(p)["move"]["type"] for p in CASES}
    assert types == {"move_in", "special_move_in", "abroad_in", "move_out", "abroad_out", "move_within",
                     "household_change"}
    kinds = {case_runner.load_case_file(p)["move"].get("change_kind") for p in CASES}
    assert {"split", "merge", "head_change"} <= kinds


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_file_runs_on_demo_database(path, tmp_path, capsys):
    rc = _cli(["case", "run", str(path), "--out", str(tmp_path), "--demo"])
    out = capsys.readouterr()
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["expect"] == {"ok": True, "problems": []}, out.err
    assert rc == 0
    assert summary["case_no"].startswith("20")
    assert summary["move"]["move_type"] == case_runner.load_case_file(path)["move"]["type"]
    kinds = [e["kind"] for e in summary["timeline"]]
    assert kinds[0] == "open" and "move" in kinds
    assert f"受付番号 {summary['case_no']}" in out.out


def test_two_household_move_on_postgresql(pg_db, tmp_path):
    spec = case_runner.load_case_file(Path(__file__).parent / "cases" / "two_households.yaml")
    case_runner.seed_fixture(pg_db, spec)
    case_runner.ensure_staff(pg_db, Actor("tanaka", "田中　窓口", terminal="T01"))
    summary = case_runner.run_case(pg_db, spec, tmp_path)
    assert summary["expect"]["ok"], summary["expect"]
    # The stored move is the one the GUI would reopen at another counter.
    svc = CaseService(pg_db, Actor("sato", "佐藤", terminal="T07"))
    case = svc.find_case(summary["case_no"])
    rec = svc.get_move(case.id)
    assert [p.member_key for p in rec.move.after[0].placements] == ["200001", "100003"]
    assert rec.move.members["100003"].moving and not rec.move.members["100001"].moving
    assert rec.move.members["100001"].qualifications[0].kind == "kokuho"
    assert summary["memos"] == ["パートナー（髙橋さん）の同意を電話で確認", "国保の資格喪失・加入を案内"]
    assert summary["status"] == "done"


def test_expectation_mismatch_exits_3(tmp_path, capsys):
    text = (Path(__file__).parent / "cases" / "tenkyo.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  warnings: 0", "  warnings: 2"), encoding="utf-8")
    assert _cli(["case", "run", str(bad), "--out", str(tmp_path / "o"), "--demo"]) == 3
    assert "警告の件数が 0 件（期待 2 件）" in capsys.readouterr().err


def test_bad_case_files_are_japanese_errors(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("name: x\nmovee: {}\n", encoding="utf-8")
    with pytest.raises(KnownError, match="知らない項目があります: movee"):
        _cli(["case", "run", str(f), "--out", str(tmp_path), "--demo"])
    text = (Path(__file__).parent / "cases" / "tenkyo.yaml").read_text(encoding="utf-8")
    f.write_text(text.replace("banchi: 7番3号}", "banchi: 99番9号}"), encoding="utf-8")
    with pytest.raises(KnownError, match="「二条99番9号」は住所マスタにありません"):
        _cli(["case", "run", str(f), "--out", str(tmp_path), "--demo"])
    with pytest.raises(KnownError, match="見つかりません"):
        _cli(["case", "run", str(tmp_path / "none.yaml"), "--out", str(tmp_path), "--demo"])


def test_output_steps_are_called_with_the_case(sqlite_db, tmp_path):
    spec = case_runner.load_case_file(Path(__file__).parent / "cases" / "tennyu.yaml")
    case_runner.seed_fixture(sqlite_db, spec)
    seen = []

    def step(ctx):
        seen.append((ctx.case.case_no, ctx.move.move_type.value))
        return {"listed": 3}

    summary = case_runner.run_case(sqlite_db, spec, tmp_path, demo=True, output_steps=(("procedures", step),))
    assert seen == [(summary["case_no"], "move_in")]
    assert summary["outputs"] == {"procedures": {"listed": 3}}


def test_madoguchi_admin_case_run_against_postgresql(pg_url, tmp_path, capsys, monkeypatch):
    """The real admin entry point, database from MADOGUCHI_DATABASE_URL (fixture seeded beforehand)."""
    from madoguchi.cli.admin import main
    from madoguchi.store.db import Database

    path = Path(__file__).parent / "cases" / "tenshutsu.yaml"
    db = Database.connect(pg_url)
    case_runner.seed_fixture(db, case_runner.load_case_file(path))
    db.dispose()
    monkeypatch.setenv("MADOGUCHI_DATABASE_URL", pg_url)
    assert main(["case", "run", str(path), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "転出: 納内　翔太 → 北海道旭川市神楽岡５条5丁目1-1" in out
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "done" and summary["actor"] == {"login": "tanaka", "terminal": "T01"}
    # Without a database and without --demo: a Japanese error, exit code 1.
    monkeypatch.delenv("MADOGUCHI_DATABASE_URL")
    assert main(["case", "run", str(path), "--out", str(tmp_path)]) == 1
    assert "接続先データベースが指定されていません" in capsys.readouterr().err
