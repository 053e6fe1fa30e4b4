"""Move validation: one head per household, every member placed once, 14-day rule warns only."""

from __future__ import annotations

from datetime import date

from madoguchi.domain.moves import (HouseholdState, Level, Move, MoveMember, MoveType, Placement, blocking,
                                    validate)
from madoguchi.domain.people import Address

TODAY = date(2026, 11, 25)
HOME = Address(town_name="一条", banchi="3番12号", postal_code="0740001", town_code="001")


def _member(key, name, born):
    return MoveMember(key=key, name=name, name_kana="", birth_date=born, atena_no=key)


def _within(**kw) -> Move:
    m = Move(MoveType.MOVE_WITHIN, move_date=date(2026, 11, 20), notified_on=TODAY,
             members={"1": _member("1", "山田　太郎", date(1980, 1, 1)), "2": _member("2", "山田　花子", date(1982, 2, 2))},
             before=[HouseholdState("H1", [Placement("1", "世帯主", True), Placement("2", "妻")], HOME)],
             after=[HouseholdState("H1", [Placement("1", "世帯主", True), Placement("2", "妻")], HOME)])
    for k, v in kw.items():
        setattr(m, k, v)
    return m


def test_valid_move_has_no_findings():
    assert validate(_within(), TODAY) == []


def test_late_notification_warns_but_does_not_block():
    f = validate(_within(move_date=date(2026, 10, 1)), TODAY)
    assert [x.level for x in f] == [Level.WARNING] and "14日" in f[0].message
    assert not blocking(f)


def test_two_heads_and_unplaced_member_are_errors_located():
    m = _within()
    m.after = [HouseholdState("H1", [Placement("1", "世帯主", True), Placement("2", "世帯主", True)], HOME)]
    f = validate(m, TODAY)
    assert any(x.household == "H1" and "世帯主が2人以上" in x.message for x in f)
    m.after = [HouseholdState("H1", [Placement("1", "世帯主", True)], HOME)]
    f = validate(m, TODAY)
    assert any(x.member == "2" and "異動後の世帯が決まっていません" in x.message for x in f) and blocking(f)


def test_member_in_two_households_and_missing_address():
    m = _within()
    m.after = [HouseholdState("H1", [Placement("1", "世帯主", True), Placement("2", "妻")], HOME),
               HouseholdState("new-A", [Placement("2", "世帯主", True)], None)]
    msgs = [x.message for x in validate(m, TODAY)]
    assert any("複数の世帯" in s for s in msgs) and any("new-A の住所" in s for s in msgs)


def test_move_out_needs_destination_and_planned_date():
    m = Move(MoveType.MOVE_OUT, notified_on=TODAY, members={"1": _member("1", "山田　太郎", date(1980, 1, 1))})
    msgs = [x.message for x in validate(m, TODAY)]
    assert any("転出予定日" in s for s in msgs) and any("転出先" in s for s in msgs)


def test_future_notification_date_is_error():
    assert blocking(validate(_within(notified_on=date(2026, 12, 1), move_date=date(2026, 11, 30)), TODAY))
