"""Listing with the real catalogue: legal-age edges, school age, reasons, questions, failures."""

from __future__ import annotations

from datetime import date

import pytest

from madoguchi.domain.moves import HouseholdState, Move, MoveMember, MoveType, Placement
from madoguchi.domain.procedures import (
    ConditionError,
    list_procedures,
    move_from_spec,
    parse_catalogue,
    run_case,
    visible_questions,
)
from madoguchi.services.procedure_catalogue import known_form_ids, read_sources
from madoguchi.errors import InputError
from madoguchi.resources import forms_path


@pytest.fixture(scope="module")
def catalogue():
    return parse_catalogue(read_sources(forms_path("procedures")), known_form_ids(forms_path("templates")))


def _move_in(on: date, **members: dict) -> Move:
    return move_from_spec({"type": "move_in", "date": on, "members": members})


def _ids_for(listed, subject: str) -> set[str]:
    return {x.procedure_id for x in listed if x.subject == subject}


def test_day_before_65th_birthday_lists_kaigo(catalogue):
    # born 2 April 1960: reaches 65 (legal age) at the end of 1 April 2025
    listed = list_procedures(_move_in(date(2025, 4, 1), a={"birth": date(1960, 4, 2)}), {}, catalogue)
    assert "kaigo.tennyu" in _ids_for(listed, "a")
    reason = next(x for x in listed if x.procedure_id == "kaigo.tennyu").reasons
    assert reason == ("a さん（65歳）が65歳以上で転入するため".replace(" ", ""),)


def test_two_days_before_65th_birthday_no_kaigo(catalogue):
    listed = list_procedures(_move_in(date(2025, 3, 31), a={"birth": date(1960, 4, 2)}), {}, catalogue)
    assert "kaigo.tennyu" not in _ids_for(listed, "a")


def test_75th_birthday_itself_lists_kouki_but_not_the_day_before(catalogue):
    on_birthday = list_procedures(_move_in(date(2025, 5, 1), a={"birth": date(1950, 5, 1)}), {}, catalogue)
    day_before = list_procedures(_move_in(date(2025, 4, 30), a={"birth": date(1950, 5, 1)}), {}, catalogue)
    assert "kouki.tennyu" in _ids_for(on_birthday, "a")
    assert "kouki.tennyu" not in _ids_for(day_before, "a")
    # 介護 counts by legal age: both dates are past the 65th 到達日
    assert "kaigo.tennyu" in _ids_for(day_before, "a")


def test_kouki_on_29_february_birthday(catalogue):
    # born 29 Feb 1948: in 2023 (no 29 Feb) the 75th birthday is taken as 1 March
    listed = list_procedures(_move_in(date(2023, 3, 1), a={"birth": date(1948, 2, 29)}), {}, catalogue)
    before = list_procedures(_move_in(date(2023, 2, 28), a={"birth": date(1948, 2, 29)}), {}, catalogue)
    assert "kouki.tennyu" in _ids_for(listed, "a")
    assert "kouki.tennyu" not in _ids_for(before, "a")


@pytest.mark.parametrize(("birth", "school_age"), [
    (date(2019, 4, 1), True),   # reached 6 by 1 April 2025 (legal age): first grade in April 2025
    (date(2019, 4, 2), False),  # starts school in April 2026
    (date(2010, 4, 2), True),   # 中学3年
    (date(2010, 4, 1), False),  # 高校1年相当
])
def test_school_age_by_1_april(catalogue, birth, school_age):
    move = _move_in(date(2025, 5, 1), p={"birth": date(1985, 1, 1)}, c={"birth": birth})
    listed = list_procedures(move, {}, catalogue)
    assert ("gakkou.tennyugaku" in _ids_for(listed, "c")) is school_age


def test_grade_label_in_reason(catalogue):
    move = _move_in(date(2025, 5, 1), p={"birth": date(1985, 1, 1)}, c={"birth": date(2012, 4, 1)})
    x = next(x for x in list_procedures(move, {}, catalogue) if x.procedure_id == "gakkou.tennyugaku")
    assert x.reasons == ("cさん（中学2年）が学齢のため",)


def test_household_and_member_subjects(catalogue):
    move = _move_in(date(2025, 5, 1), a={"birth": date(1985, 1, 1)}, b={"birth": date(1987, 1, 1)})
    listed = list_procedures(move, {("shakai_hoken", "b"): False}, catalogue)
    tennyu = [x for x in listed if x.procedure_id == "juki.tennyu"]
    assert [(x.household_key, x.member_key, x.scope) for x in tennyu] == [("new-A", None, "household")]
    kokuho = [x for x in listed if x.procedure_id == "kokuho.shutoku"]
    assert [(x.household_key, x.member_key) for x in kokuho] == [("new-A", "b")]


def test_questions_chain_and_hidden_answers_are_ignored(catalogue):
    move = move_from_spec({"type": "move_within", "date": date(2025, 5, 1),
                           "members": {"a": {"birth": date(1985, 1, 1)}}})
    # koseki_jiken is shown only after koseki_todoke is answered yes
    shown = {(q.question_id, q.subject) for q in visible_questions(move, {}, catalogue)}
    assert ("koseki_todoke", "100") in shown and ("koseki_jiken", "a") not in shown
    answers = {("koseki_todoke", "100"): True, ("koseki_jiken", "a"): "転籍"}
    shown = {(q.question_id, q.subject) for q in visible_questions(move, answers, catalogue)}
    assert ("koseki_jiken", "a") in shown
    assert "koseki.tenseki" in _ids_for(list_procedures(move, answers, catalogue), "a")
    # the same answer under a question that is hidden again does not count
    answers[("koseki_todoke", "100")] = False
    assert "koseki.tenseki" not in _ids_for(list_procedures(move, answers, catalogue), "a")


def test_wrong_answer_type_is_an_input_error(catalogue):
    move = _move_in(date(2025, 5, 1), a={"birth": date(1985, 1, 1)})
    with pytest.raises(InputError, match="勤務先の健康保険"):
        list_procedures(move, {("shakai_hoken", "a"): "たぶん"}, catalogue)


def test_move_without_date_cannot_be_judged(catalogue):
    m = MoveMember("a", "a", "", date(1985, 1, 1))
    move = Move(MoveType.MOVE_WITHIN, members={"a": m},
                before=[HouseholdState("1", [Placement("a", "世帯主", True)])],
                after=[HouseholdState("1", [Placement("a", "世帯主", True)])])
    with pytest.raises(InputError, match="異動日"):
        list_procedures(move, {}, catalogue)


def test_unplaced_member_is_still_judged(catalogue):
    move = _move_in(date(2025, 4, 1), a={"birth": date(1960, 4, 2)})
    move.after = []  # the clerk has not placed anyone yet
    listed = list_procedures(move, {}, catalogue)
    assert "kaigo.tennyu" in _ids_for(listed, "a")
    assert not [x for x in listed if x.scope == "household"]


def test_failing_condition_raises_never_false():
    sources = {"t.yaml": """
procedures:
  - id: t.broken
    name: 壊れた条件
    department: 市民課
    counter: 1番
    category: テスト
    scope: member
    applies:
      - when: member.kinds[3] == "kokuho"
        reason: 理由
    guidance: {explain: 説明}
    documents: []
    resident_text: 案内
    forms: [generic]
    tests:
      - {name: a, move: {type: move_in, date: 2025-04-01, members: {a: {birth: 1980-01-01}}}, listed: [a]}
      - {name: b, move: {type: move_in, date: 2025-04-01, members: {a: {birth: 1980-01-01}}}, listed: []}
"""}
    catalogue = parse_catalogue(sources)
    with pytest.raises(ConditionError, match=r"t\.broken.*t\.yaml 3行目.*条件1（10行目）"):
        list_procedures(_move_in(date(2025, 4, 1), a={"birth": date(1980, 1, 1)}), {}, catalogue)


def test_valid_from_and_to_follow_the_move_date():
    text = """
procedures:
  - id: t.dated
    name: 期間限定
    department: 市民課
    counter: 1番
    category: テスト
    scope: member
    valid_from: 2025-04-01
    valid_to: 2026-03-31
    applies:
      - {when: move.is_in, reason: 転入するため}
    guidance: {explain: 説明}
    documents: []
    resident_text: 案内
    forms: [generic]
    tests:
      - {name: a, move: {type: move_in, date: 2025-04-01, members: {a: {birth: 1980-01-01}}}, listed: [a]}
      - {name: b, move: {type: move_in, date: 2025-03-31, members: {a: {birth: 1980-01-01}}}, listed: []}
      - {name: c, move: {type: move_in, date: 2026-04-01, members: {a: {birth: 1980-01-01}}}, listed: []}
"""
    catalogue = parse_catalogue({"t.yaml": text})
    for case in catalogue.get("t.dated").tests:
        assert run_case(case, catalogue)[0] is None
    assert [x.procedure_id for x in list_procedures(
        _move_in(date(2026, 3, 31), a={"birth": date(1980, 1, 1)}), {}, catalogue)] == ["t.dated"]


def test_visible_question_says_which_procedures_it_decides(catalogue):
    move = _move_in(date(2025, 4, 1), a={"birth": date(1960, 4, 2)})
    q = next(q for q in visible_questions(move, {}, catalogue) if q.question_id == "kaigo_nintei")
    assert q.decides == ("kaigo.tennyu",)
    assert "受給資格証明書" in q.help
    shakai = next(q for q in visible_questions(move, {}, catalogue) if q.question_id == "shakai_hoken")
    assert shakai.decides == ("kokuho.shutoku",) and shakai.subject == "a" and shakai.answer is None


def test_partial_move_out_lists_only_the_leaver(catalogue):
    move = move_from_spec({"type": "move_out", "date": date(2025, 5, 1), "members": {
        "a": {"birth": date(1950, 1, 1), "kinds": ["kokuho"], "moving": False},
        "b": {"birth": date(1980, 1, 1), "kinds": ["kokuho"]}},
        "before": [{"key": "100", "head": "a", "members": ["a", "b"]}],
        "after": [{"key": "100", "head": "a", "members": ["a"]}]})
    listed = list_procedures(move, {}, catalogue)
    assert {(x.procedure_id, x.subject) for x in listed if x.procedure_id.startswith(("juki", "kokuho"))} == {
        ("juki.tenshutsu", "100"), ("kokuho.soushitsu", "b")}
    assert not _ids_for(listed, "a")


def test_head_moving_out_changes_the_head_of_those_who_stay(catalogue):
    move = move_from_spec({"type": "move_out", "date": date(2025, 5, 1), "members": {
        "a": {"birth": date(1950, 1, 1), "kinds": ["kokuho"]},
        "b": {"birth": date(1980, 1, 1), "kinds": ["kokuho"], "moving": False},
        "c": {"birth": date(1982, 1, 1), "moving": False}},
        "before": [{"key": "100", "head": "a", "members": ["a", "b", "c"]}],
        "after": [{"key": "100", "head": "b", "members": ["b", "c"]}]})
    ids = _ids_for(list_procedures(move, {}, catalogue), "100")
    assert {"juki.tenshutsu", "kokuho.setainushi_henko", "juki.setai_henko"} <= ids
