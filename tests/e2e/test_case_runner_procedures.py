"""Case runner + procedure service: answers from the case file are applied, the listing is stored
and written to procedures.json (ids, names, reasons, per member)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from madoguchi.errors import KnownError
from madoguchi.services import case_runner, procedure_step
from madoguchi.store.models import AnswerRow, SelectedProcedure

CASES = Path(__file__).parent / "cases"
STEPS = (("procedures", procedure_step.run_step),)


def _run(db, spec: dict, out: Path) -> dict:
    case_runner.seed_fixture(db, spec)
    case_runner.ensure_staff(db, case_runner._actor(spec, demo=True))
    return case_runner.run_case(db, spec, out, demo=True, output_steps=STEPS)


def test_move_in_with_answers_writes_procedures_json(tmp_path):
    spec = case_runner.load_case_file(CASES / "tennyu.yaml")
    spec["answers"] = {"new-A": {"jidou_teate_koumuin": False, "ninshin": False},
                       "new-1": {"shakai_hoken": "いいえ", "inkan_touroku": "はい"}}
    spec["expect"]["procedures"] += ["jidou_teate.nintei", "kokuho.shutoku", "inkan.touroku"]
    db = case_runner.demo_database(tmp_path)
    summary = _run(db, spec, tmp_path / "out")
    assert summary["expect"] == {"ok": True, "problems": []}
    data = json.loads((tmp_path / "out" / "procedures.json").read_text(encoding="utf-8"))
    assert data["case_no"] == summary["case_no"]
    listed = {(x["procedure_id"], x["subject"]): x for x in data["listed"]}
    kodomo = listed[("kodomo_iryou.shinsei", "new-2")]
    assert kodomo["name"] == "子ども医療費受給者証 交付申請" and kodomo["member_name"] == "札幌　さくら"
    assert any("札幌　さくらさん" in r for r in kodomo["reasons"])
    assert listed[("kokuho.shutoku", "new-1")]["source"] == "auto"
    members = {g["member"]: [p["procedure_id"] for p in g["procedures"]] for g in data["groups"]}
    assert "gakkou.tennyugaku" in members["new-2"] and "inkan.touroku" in members["new-1"]
    assert "juki.tennyu" in members[None]
    answered = {(a["question_id"], a["subject"]): a["answer"] for a in data["answered"]}
    assert answered[("shakai_hoken", "new-1")] == "いいえ" and answered[("inkan_touroku", "new-1")] == "はい"
    # the selection and the answers are stored on the case, as at the counter
    with db.session() as s:
        rows = {(r.procedure_id, r.subject) for r in s.execute(select(SelectedProcedure)).scalars()}
        assert set(listed) == rows
        assert s.execute(select(AnswerRow).where(AnswerRow.question_id == "inkan_touroku")).scalar_one().value is True
    kinds = [e["kind"] for e in summary["timeline"]]
    assert kinds.count("answer") == 4 and "procedure" in kinds
    assert summary["outputs"]["procedures"]["file"] == "procedures.json"
    db.dispose()


def test_answers_as_a_list_in_file_order(tmp_path):
    spec = case_runner.load_case_file(CASES / "tennyu.yaml")
    spec["answers"] = [{"question": "koseki_todoke", "subject": "new-A", "value": True},
                       {"question": "koseki_jiken", "subject": "new-1", "value": "婚姻"}]
    db = case_runner.demo_database(tmp_path)
    _run(db, spec, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "procedures.json").read_text(encoding="utf-8"))
    q = {(x["question_id"], x["subject"]): x["answer"] for x in data["questions"]}
    assert q[("koseki_todoke", "new-A")] is True and q[("koseki_jiken", "new-1")] == "婚姻"
    db.dispose()


def test_move_out_on_postgresql(pg_db, tmp_path):
    spec = case_runner.load_case_file(CASES / "tenshutsu.yaml")
    summary = _run(pg_db, spec, tmp_path)
    data = json.loads((tmp_path / "procedures.json").read_text(encoding="utf-8"))
    assert data["listed"], "a move out lists procedures"
    assert {x["procedure_id"] for x in data["listed"]} == {x["procedure_id"] for x in
                                                         summary["outputs"]["procedures"]["listed"]}
    assert all(x["reasons"] for x in data["listed"])


@pytest.mark.parametrize(("answers", "message"), [
    ({"new-1": {"nai_shitsumon": True}}, "確認事項「nai_shitsumon」は定義されていません"),
    ({"new-1": {"shakai_hoken": "たぶん"}}, "「はい」か「いいえ」"),
    ([{"question": "ninshin"}], "question, subject, value"),
])
def test_wrong_answers_in_a_case_file_are_japanese_errors(tmp_path, answers, message):
    spec = case_runner.load_case_file(CASES / "tennyu.yaml")
    spec["answers"] = answers
    db = case_runner.demo_database(tmp_path)
    with pytest.raises(KnownError, match=message):
        _run(db, spec, tmp_path / "out")
    db.dispose()


def test_admin_cli_case_run_writes_procedures_json(tmp_path, capsys):
    import argparse

    from madoguchi.cli import cmd_case

    parser = argparse.ArgumentParser()
    parser.add_argument("--database")
    cmd_case.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["case", "run", str(CASES / "tenkyo.yaml"), "--out", str(tmp_path), "--demo"])
    assert args.handler(args) == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "procedures.json").read_text(encoding="utf-8"))
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert data["listed"] and data["listed"] == summary["outputs"]["procedures"]["listed"]
    assert "procedure" in [e["kind"] for e in summary["timeline"]]
