"""Small, realistic moves shared by the case, grid and runner tests."""

from __future__ import annotations

from datetime import date

from madoguchi.domain.moves import HouseholdChangeKind, HouseholdState, Move, MoveMember, MoveType, Placement
from madoguchi.domain.people import Address, Qualification

TODAY = date(2026, 11, 25)
HOME = Address(town_name="一条", banchi="3番12号", postal_code="0740001", town_code="001")
NEW_HOME = Address(town_name="二条", banchi="5番1号", katagaki="コーポ二条 101", postal_code="0740002",
                   town_code="002")


def split_and_join() -> Move:
    """A daughter leaves her parents' household (H001) and joins her partner's (H002) as 妻."""
    members = {
        "100001": MoveMember("100001", "深川　太郎", "フカガワ　タロウ", date(1968, 5, 3), "1", "100001",
                             qualifications=(Qualification("kokuho", date(2020, 4, 1)),), moving=False),
        "100002": MoveMember("100002", "深川　花子", "フカガワ　ハナコ", date(1970, 8, 9), "2", "100002", moving=False),
        "100003": MoveMember("100003", "深川　美咲", "フカガワ　ミサキ", date(1999, 1, 31), "2", "100003",
                             mynumber_card_expiry=date(2031, 1, 31), e_cert_expiry=date(2029, 1, 31)),
        "200001": MoveMember("200001", "髙橋　𠮷雄", "タカハシ　ヨシオ", date(1997, 12, 1), "1", "200001",
                             moving=False),
    }
    before = [
        HouseholdState("H001", [Placement("100001", "世帯主", True), Placement("100002", "妻"),
                                Placement("100003", "子")], HOME),
        HouseholdState("H002", [Placement("200001", "世帯主", True)], NEW_HOME),
    ]
    after = [
        HouseholdState("H001", [Placement("100001", "世帯主", True), Placement("100002", "妻")], HOME),
        HouseholdState("H002", [Placement("200001", "世帯主", True), Placement("100003", "妻")], NEW_HOME),
    ]
    return Move(MoveType.HOUSEHOLD_CHANGE, move_date=date(2026, 11, 20), notified_on=TODAY,
                change_kind=HouseholdChangeKind.REORGANISE, members=members, before=before, after=after)


def move_in_family() -> Move:
    """Two persons from Sapporo; no 宛名 yet."""
    members = {
        "new-1": MoveMember("new-1", "札幌　一郎", "サッポロ　イチロウ", date(1985, 2, 28), "1"),
        "new-2": MoveMember("new-2", "札幌　さくら", "サッポロ　サクラ", date(2019, 4, 1), "2"),
    }
    after = [HouseholdState("new-A", [Placement("new-1", "世帯主", True), Placement("new-2", "子")], NEW_HOME)]
    return Move(MoveType.MOVE_IN, move_date=date(2026, 11, 1), notified_on=TODAY,
                from_address=Address(prefecture="北海道", city="札幌市中央区", town_name="北一条西",
                                     banchi="2丁目1-1", postal_code="0600001"),
                members=members, after=after)
