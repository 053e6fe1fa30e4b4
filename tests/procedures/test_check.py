"""`madoguchi-admin procedures check` finds each kind of error and names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from madoguchi.cli.admin import main

GOOD = """\
group: テスト
questions:
  - id: q1
    text: 質問です
    kind: yes_no
    about: member
    show_when: move.is_in
procedures:
  - id: t.one
    name: テスト手続き
    department: 市民課
    counter: 1番窓口
    category: テスト
    scope: member
    applies:
      - when: q.q1 == true && member.legal_age >= 18
        reason: "{member.name}さんが希望するため"
    questions: [q1]
    guidance: {explain: 説明}
    documents: []
    resident_text: 案内文
    forms: [generic]
    tests:
      - name: 該当
        move: {type: move_in, date: 2025-04-01, members: {a: {birth: 1980-01-01}}}
        answers: {a: {q1: true}}
        listed: [a]
      - name: 非該当
        move: {type: move_in, date: 2025-04-01, members: {a: {birth: 1980-01-01}}}
        answers: {a: {q1: false}}
        listed: []
"""


def _check(tmp_path: Path, text: str, capsys, templates: tuple[str, ...] = ()) -> tuple[int, str]:
    defs = tmp_path / "defs"
    defs.mkdir(exist_ok=True)
    (defs / "t.yaml").write_text(text, encoding="utf-8")
    tpl = tmp_path / "templates"
    tpl.mkdir(exist_ok=True)
    for t in templates:
        (tpl / f"{t}.yaml").write_text("id: x\n", encoding="utf-8")
    rc = main(["procedures", "check", "--dir", str(defs), "--templates", str(tpl)])
    out = capsys.readouterr()
    return rc, out.err + out.out


def test_good_definitions_pass(tmp_path, capsys):
    rc, out = _check(tmp_path, GOOD, capsys)
    assert rc == 0, out
    assert "エラー 0件" in out


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("    name: テスト手続き\n", "    name: テスト手続き\n    nmae: 誤字\n", 11, "未知のキー「nmae」"),
    ("  - id: t.one\n", "  - id: t.one\n    id: t.two\n", 10, "キー「id」が重複"),
    ("scope: member\n    applies", "scope: member\n   applies", 15, "YAMLの書式"),
    ("q.q1 == true && member.legal_age >= 18", "q.q1 == true &&", 16, "構文が正しくありません"),
    ("member.legal_age >= 18", "member.legal_ag >= 18", 16, "未知の属性「member.legal_ag」"),
    ("q.q1 == true &&", "q.q9 == true &&", 16, "質問「q9」は定義されていません"),
    ("questions: [q1]", "questions: [q1, q7]", 18, "質問「q7」は定義されていません"),
    ("q.q1 == true &&", 'move.type == "move_inn" &&', 16, "「move_inn」になることはありません"),
    ("q.q1 == true &&", 'q.q1 == "はい" &&', 16, "型を合わせてください"),
    ("forms: [generic]", "forms: [no_such_form]", 22, "帳票「no_such_form」はありません"),
    ("show_when: move.is_in", "show_when: 1 > 2", 7, "表示されることがありません"),
    ("{member.name}さんが", "{member.nam}さんが", 17, "「{member.nam}」は使えません"),
    ("answers: {a: {q1: false}}", "answers: {a: {q1: true}}", 28, "テスト「非該当」"),
    ("    resident_text: 案内文\n", "", 9, "必須のキー「resident_text」"),
])
def test_each_error_is_reported_with_file_and_line(tmp_path, capsys, old, new, line, message):
    assert old in GOOD
    rc, out = _check(tmp_path, GOOD.replace(old, new, 1), capsys, templates=("juki_idou",))
    assert rc == 1, out
    hits = [x for x in out.splitlines() if message in x]
    assert hits, out
    if line:
        assert hits[0].startswith(f"t.yaml:{line}: エラー"), hits[0]


def test_missing_case_kind_is_reported(tmp_path, capsys):
    only_positive = GOOD[:GOOD.index("      - name: 非該当")]
    rc, out = _check(tmp_path, only_positive, capsys)
    assert rc == 1
    assert "該当するテストと該当しないテストを少なくとも1つずつ" in out


def test_question_used_by_nothing_is_a_warning(tmp_path, capsys):
    text = GOOD.replace("procedures:\n", "  - {id: q2, text: 使わない, kind: yes_no, about: household}\nprocedures:\n")
    rc, out = _check(tmp_path, text, capsys)
    assert rc == 0
    assert "t.yaml:8: 警告: 質問「q2」はどの手続きにも使われていません" in out


def test_member_question_cannot_be_read_by_a_household_procedure(tmp_path, capsys):
    text = GOOD.replace("scope: member", "scope: household").replace(
        " && member.legal_age >= 18", "").replace("{member.name}さんが", "")
    rc, out = _check(tmp_path, text, capsys)
    assert rc == 1
    assert "世帯員の質問「q1」は使えません" in out
    assert "質問「q1」はここでは使えません" in out


def test_missing_folder_is_a_known_error(tmp_path, capsys):
    rc = main(["procedures", "check", "--dir", str(tmp_path / "nothing")])
    assert rc == 1
    assert "手続き定義のフォルダ" in capsys.readouterr().err


def test_real_catalogue_passes(capsys):
    rc = main(["procedures", "check"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "エラー 0件、警告 0件" in out.out


def test_question_may_not_read_a_later_question(tmp_path, capsys):
    text = GOOD.replace("    show_when: move.is_in\n", "    show_when: q.q2 == true\n  - {id: q2, text: 後の質問, kind: yes_no, about: member}\n")
    rc, out = _check(tmp_path, text, capsys)
    assert rc == 1
    assert "t.yaml:7: エラー: 質問 q1 の show_when: 質問「q2」はここでは使えません" in out
