"""The render context: flat dotted keys, 和暦 dates, member lists."""

from __future__ import annotations

from datetime import date

from madoguchi.domain.moves import MoveType
from madoguchi.printing import samples
from madoguchi.printing.context import CaseInfo, build_context


def test_flat_keys_and_wareki_dates():
    ctx = samples.sample_context()
    assert ctx["person.name"] == "𠮷田 太郎"
    assert ctx["person.birth_wareki"] == "昭和55年12月26日"
    assert ctx["household.head_name"] == "𠮷田 太郎"
    assert ctx["move.move_date_wareki"] == "令和7年11月20日"
    assert ctx["move.type_label"] == "転入"
    assert ctx["move.is_move_in"] is True and ctx["move.is_move_out"] is False
    assert ctx["case.today_wareki"] == "令和7年11月25日"
    assert ctx["answers.dog_name"] == "ポチ"
    assert ctx["city.mayor"] == "深川市長"


def test_members_head_first_with_relationships():
    ctx = samples.sample_context()
    assert [m["relationship"] for m in ctx["members"]] == ["世帯主", "妻", "子", "子", "妻の母"]
    assert [m["seq"] for m in ctx["members"]] == [1, 2, 3, 4, 5]
    assert {m["name"] for m in ctx["children"]} == {"𠮷田 一郎", "𠮷田 さくら"}
    assert [m["school_grade"] for m in ctx["school_children"]] == ["小学校4年"]


def test_age_is_taken_on_the_move_date():
    hh = samples.sample_household()
    move = samples.sample_move(hh)
    move.move_date = date(2025, 9, 8)  # the day before キヨ's 76th birthday
    ctx = build_context(samples.sample_case(), person=hh.members[4], move=move)
    assert ctx["person.age"] == 75


def test_subjects_narrow_a_form_to_some_members():
    hh = samples.sample_household()
    ctx = build_context(samples.sample_case(), household=hh, move=samples.sample_move(hh),
                        subjects={"000000101", "000000102"})
    assert [m["name"] for m in ctx["subjects"]] == ["𠮷田 太郎", "𠮷田 花子"]
    assert len(ctx["members"]) == 5


def test_move_out_prints_the_destination():
    hh = samples.sample_household()
    move = samples.sample_move(hh)
    move.move_type = MoveType.MOVE_OUT
    move.to_address = samples.OLD_ADDRESS
    ctx = build_context(samples.sample_case(), move=move)
    assert ctx["move.new_address"] == "北海道札幌市中央区北一条西2丁目1番地"
    assert ctx["move.is_move_out"] is True


def test_case_without_anything_else():
    ctx = build_context(CaseInfo(today=date(2019, 5, 1), case_no="R1-1"))
    assert ctx["case.today_wareki"] == "令和元年5月1日"
    assert ctx["members"] == []


def test_former_address_falls_back_to_the_moves():
    ctx = samples.sample_context(person_index=4)  # キヨ: the core system has no 前住所 for her
    assert ctx["person.former_address"] == "北海道札幌市中央区北一条西2丁目1番地"
    masked = samples.sample_context(person_index=4, restricted=True)
    assert masked["person.former_address"] == "（支援措置により非表示）"
