"""merge_selection: the clerk's additions and removals survive re-listing."""

from __future__ import annotations

import pytest

from madoguchi.domain.procedures import (
    Listed,
    active,
    add_manual,
    merge_selection,
    remove_item,
    restore_item,
)
from madoguchi.errors import InputError


def _listed(pid: str, member: str | None = "a", reasons: tuple[str, ...] = ("理由",)) -> Listed:
    return Listed(pid, pid, "市民課", "1番", "member" if member else "household", "H1", member,
                  member or "", reasons)


def _keys(selection) -> list[tuple[str, str]]:
    return [i.key for i in selection]


def test_first_listing_selects_everything():
    sel = merge_selection([], [_listed("juki.tennyu", None), _listed("kaigo.tennyu")])
    assert _keys(sel) == [("juki.tennyu", "H1"), ("kaigo.tennyu", "a")]
    assert all(i.auto and not i.manual and not i.removed for i in sel)


def test_auto_item_that_no_longer_applies_disappears():
    sel = merge_selection([], [_listed("kaigo.tennyu"), _listed("kokuho.shutoku")])
    sel = merge_selection(sel, [_listed("kaigo.tennyu")])
    assert _keys(sel) == [("kaigo.tennyu", "a")]


def test_manual_addition_stays_when_not_listed():
    sel = merge_selection([], [_listed("kaigo.tennyu")])
    sel = add_manual(sel, "mynumber.pin_reset", "a", "H1", "a")
    sel = merge_selection(sel, [])
    assert _keys(sel) == [("mynumber.pin_reset", "a")]
    assert sel[0].manual and not sel[0].auto


def test_manual_item_later_listed_keeps_manual_flag_and_gets_reasons():
    sel = add_manual([], "kokuho.shutoku", "a", "H1", "a")
    sel = merge_selection(sel, [_listed("kokuho.shutoku", reasons=("国保に加入するため",))])
    assert len(sel) == 1 and sel[0].manual and sel[0].auto
    assert sel[0].reasons == ("国保に加入するため",)
    sel = merge_selection(sel, [])
    assert _keys(sel) == [("kokuho.shutoku", "a")] and sel[0].reasons == ()


def test_removal_needs_a_reason_and_stays_removed_when_listed_again():
    sel = merge_selection([], [_listed("senkyo.annai")])
    with pytest.raises(InputError):
        remove_item(sel, "senkyo.annai", "a", "  ")
    sel = remove_item(sel, "senkyo.annai", "a", "本人が不要と申し出")
    sel = merge_selection(sel, [_listed("senkyo.annai", reasons=("新しい理由",))])
    assert sel[0].removed and sel[0].removed_reason == "本人が不要と申し出"
    assert sel[0].reasons == ("新しい理由",)
    assert active(sel) == []
    # the removal is remembered while the item is not listed, and still holds when it returns
    sel = merge_selection(merge_selection(sel, []), [_listed("senkyo.annai")])
    assert sel[0].removed
    sel = restore_item(sel, "senkyo.annai", "a")
    assert not sel[0].removed and active(sel) == sel


def test_removing_a_manual_item_drops_it_without_reason():
    sel = add_manual([], "inkan.haishi", "a", "H1", "a")
    assert remove_item(sel, "inkan.haishi", "a", "") == []


def test_re_adding_a_removed_item_restores_it():
    sel = remove_item(merge_selection([], [_listed("senkyo.annai")]), "senkyo.annai", "a", "不要")
    sel = add_manual(sel, "senkyo.annai", "a", "H1", "a")
    assert not sel[0].removed and sel[0].manual


def test_same_procedure_for_two_members_are_separate_items():
    sel = merge_selection([], [_listed("senkyo.annai", "a"), _listed("senkyo.annai", "b")])
    sel = remove_item(sel, "senkyo.annai", "b", "不要")
    assert [(i.subject, i.removed) for i in sel] == [("a", False), ("b", True)]


def test_merge_is_pure():
    previous = merge_selection([], [_listed("kaigo.tennyu")])
    snapshot = list(previous)
    merge_selection(previous, [])
    assert previous == snapshot


def test_removing_unknown_item_is_an_input_error():
    with pytest.raises(InputError):
        remove_item([], "x.y", "a", "理由")
