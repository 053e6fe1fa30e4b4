"""Pure editing operations behind the move grid."""

from __future__ import annotations

from move_samples import TODAY, split_and_join

from madoguchi.domain.moves import (Level, MoveMember, new_household_key, place, remove_member, set_head,
                                    set_relationship, start_after_from_before, validate)


def _fresh():
    m = split_and_join()
    m.after = []
    start_after_from_before(m)
    return m


def test_start_after_copies_before_independently():
    m = _fresh()
    assert [h.member_keys() for h in m.after] == [h.member_keys() for h in m.before]
    m.after[0].placements.pop()
    assert len(m.before[0].placements) == 3


def test_join_partner_needs_relationship_then_validates():
    m = _fresh()
    assert place(m, "100003", "H002") == "H002"
    assert m.after[1].placements[-1].relationship == ""
    errs = [f for f in validate(m, TODAY) if f.level is Level.ERROR]
    assert [(f.household, f.member, f.field) for f in errs] == [("H002", "100003", "relationship")]
    set_relationship(m, "H002", "100003", "妻")
    assert validate(m, TODAY) == []
    assert m == split_and_join()


def test_split_creates_new_household_with_head_and_same_address():
    m = _fresh()
    key = place(m, "100003")
    assert key == "new-A"
    assert new_household_key(m) == "new-B"
    h = m.after[-1]
    assert (h.key, h.placements[0].relationship, h.placements[0].is_head) == ("new-A", "世帯主", True)
    assert h.address == m.before[0].address
    # Moving back removes the now empty new household.
    place(m, "100003", "H001")
    assert [h.key for h in m.after] == ["H001", "H002"]


def test_head_change_clears_former_heads_relationship():
    m = _fresh()
    set_relationship(m, "H001", "100002", "世帯主")
    h = m.after[0]
    assert [(p.member_key, p.relationship, p.is_head) for p in h.placements] == [
        ("100002", "世帯主", True), ("100001", "", False), ("100003", "子", False)]
    assert any(f.member == "100001" and f.field == "relationship" for f in validate(m, TODAY))
    set_head(m, "H001", "100001")
    assert h.placements[0].member_key == "100001"


def test_remove_newcomer_only():
    m = _fresh()
    from datetime import date
    from madoguchi.domain.moves import add_member
    add_member(m, MoveMember("new-1", "新人", "シンジン", date(2000, 1, 1)), "H002")
    remove_member(m, "new-1")
    assert "new-1" not in m.members and m.after[1].member_keys() == ["200001"]
    try:
        remove_member(m, "100001")
    except ValueError:
        pass
    else:
        raise AssertionError("a resident must not be removable")
