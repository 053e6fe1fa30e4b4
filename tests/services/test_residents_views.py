"""Household and person views (audited), 支援措置 masking and audited unmasking — SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import date

import pytest
from residents_seed import drop_test_roles, make_actor, seed, seed_removed
from sqlalchemy import select, text

from madoguchi.errors import InputError, PermissionDenied
from madoguchi.services import residents
from madoguchi.domain.people import ResidentStatus
from madoguchi.store.models import AuditEvent

TODAY = date(2026, 11, 25)


@pytest.fixture
def env(any_db):
    """(base db, {group: (db, actor)}) — clerk and 支援措置担当 as real roles in PostgreSQL."""
    seed(any_db)
    suffix = secrets.token_hex(3)
    actors = {}
    for g in ("clerk", "shien"):
        actors[g] = make_actor(any_db, f"{g}_{suffix}", [g])
    yield any_db, actors
    for db, _a in actors.values():
        if db is not any_db:
            db.dispose()
    if any_db.dialect == "postgresql":
        drop_test_roles([f"{g}_{suffix}" for g in actors])


def events(db, action):
    with db.session() as s:
        return s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_household_members_relationships_and_qualifications(env):
    base, actors = env
    db, clerk = actors["clerk"]
    view = residents.household(db, clerk, "H100", today=TODAY)
    assert [m.relationship for m in view.members] == ["世帯主", "妻", "子"]
    assert view.household.head.name == "山田\u3000太郎"
    child = view.members[2]
    assert child.age_on(TODAY) == 11 and child.sex_label == "男"
    assert child.active_kinds(TODAY) == {"kokuho", "jidou_teate", "kodomo_iryou"}
    assert view.address_text == "北海道深川市あけぼの町3番12号" and not view.masked
    ev = events(base, "person.view")
    assert sorted(e.object_id for e in ev) == ["1001", "1002", "1003"]
    assert all(e.actor == clerk.login for e in ev)


def test_person_detail_is_audited(env):
    base, actors = env
    db, clerk = actors["clerk"]
    p = residents.person_detail(db, clerk, "1004")
    assert p.name == "佐藤\u3000京子" and p.address.katagaki == "ひまわり荘101"
    ev = events(base, "person.view")
    assert [(e.object_id, e.actor) for e in ev] == [("1004", clerk.login)]


def test_restricted_address_is_masked_for_everyone_until_unmasked(env):
    base, actors = env
    for db, actor in actors.values():
        p = residents.person_detail(db, actor, "1006")
        assert p.address is None and p.address_text() == "支援措置対象（住所非表示）"
        view = residents.household(db, actor, "H103")
        assert view.masked and "99" not in view.address_text


def test_unmask_denied_without_permission_and_reason(env):
    base, actors = env
    db, clerk = actors["clerk"]
    with pytest.raises(PermissionDenied, match="支援措置対象者の住所表示"):
        residents.unmask_address(db, clerk, "1006", "本人からの申出")
    sdb, shien = actors["shien"]
    with pytest.raises(InputError, match="理由"):
        residents.unmask_address(sdb, shien, "1006", "  ")
    assert events(base, "person.unmask") == []


def test_unmask_for_permitted_role_is_audited_with_reason(env):
    base, actors = env
    sdb, shien = actors["shien"]
    addr = residents.unmask_address(sdb, shien, "1006", "本人が来庁し住所確認を申出")
    assert addr.line() == "北海道深川市広里町99番地　コーポ広里202"
    ev = events(base, "person.unmask")
    assert len(ev) == 1 and ev[0].actor == shien.login and ev[0].object_id == "1006"
    assert "本人が来庁し住所確認を申出" in ev[0].detail


@pytest.mark.parametrize("any_db", ["postgresql"], indirect=True)  # RLS exists only there
def test_database_is_the_wall_in_postgresql(env):
    base, actors = env
    assert base.dialect == "postgresql"
    db, clerk = actors["clerk"]
    # Even raw SQL as the clerk's own role cannot read the restricted address.
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT banchi FROM person_addresses WHERE atena_no = '1006'")).all()
        assert rows == []
        assert conn.execute(text("SELECT count(*) FROM person_addresses")).scalar() == 7
    # Bypassing the app's permission check does not help either: the row is not there.
    from dataclasses import replace
    forged = replace(clerk, permissions=clerk.permissions | {"support_measure.unmask"})
    with pytest.raises(InputError, match="読めません"):
        residents.unmask_address(db, forged, "1006", "試行")
    sdb, _shien = actors["shien"]
    with sdb.engine.connect() as conn:
        assert conn.execute(text("SELECT banchi FROM person_addresses WHERE atena_no = '1006'")).scalar() \
            == "99番地"


def test_qualification_columns_saved_per_user(env):
    _base, actors = env
    db, clerk = actors["clerk"]
    sdb, shien = actors["shien"]
    assert residents.qualification_columns(db, clerk) == list(residents.DEFAULT_QUALIFICATION_COLUMNS)
    residents.save_qualification_columns(db, clerk, ["kaigo", "inu"])
    residents.save_qualification_columns(db, clerk, ["kaigo", "inu", "gakurei"])
    assert residents.qualification_columns(db, clerk) == ["kaigo", "inu", "gakurei"]
    assert residents.qualification_columns(sdb, shien) == list(residents.DEFAULT_QUALIFICATION_COLUMNS)


# --- removed persons (除票) ----------------------------------------------------------------------------


def test_removed_members_only_when_asked_and_then_audited(env):
    base, actors = env
    seed_removed(base)
    db, clerk = actors["clerk"]
    view = residents.household(db, clerk, "H100", today=TODAY)
    assert [m.atena_no for m in view.members] == ["1001", "1002", "1003"] and view.removed == []
    assert sorted(e.object_id for e in events(base, "person.view")) == ["1001", "1002", "1003"]
    view = residents.household(db, clerk, "H100", today=TODAY, include_removed=True)
    assert [m.atena_no for m in view.members] == ["1001", "1002", "1003"]  # the household is who lives there
    son = view.removed[0]
    assert [p.atena_no for p in view.removed] == ["1009"] and son.status is ResidentStatus.MOVED_OUT
    assert son.removed_on == date(2025, 3, 31) and [p.atena_no for p in view.shown][-1] == "1009"
    assert not view.masked and view.address_text == "北海道深川市あけぼの町3番12号"
    ev = events(base, "person.view")
    assert sorted(e.object_id for e in ev[3:]) == ["1001", "1002", "1003", "1009"]  # the removed son too
    assert all(e.actor == clerk.login and "household:H100" in e.detail for e in ev)


def test_removed_protected_person_is_masked_like_a_member(env):
    base, actors = env
    seed_removed(base)
    for db, actor in actors.values():  # the 支援措置担当 too: masked until unmasked with a reason
        view = residents.household(db, actor, "H106", today=TODAY)
        assert [m.atena_no for m in view.shown] == ["1010"]
        assert not view.masked and view.address_text == "北海道深川市一条2番地"
        view = residents.household(db, actor, "H106", today=TODAY, include_removed=True)
        assert [m.atena_no for m in view.removed] == ["1012", "1011"]  # by birth date, as members
        wife = view.removed[1]
        assert wife.restricted and wife.address is None and wife.moved_in_from == ""  # no 前住所 either
        assert wife.address_text() == "支援措置対象（住所非表示）"
        # the household's address was hers too: masked as for a protected member
        assert view.masked and view.address_text == "支援措置対象（住所非表示）"
    assert events(base, "person.unmask") == []


def test_household_nobody_lives_in_lists_its_removed_persons_once(env):
    base, actors = env
    db, clerk = actors["clerk"]
    for include in (False, True):
        view = residents.household(db, clerk, "H104", today=TODAY, include_removed=include)
        assert [m.atena_no for m in view.members] == ["1007"] and view.removed == []


def test_show_removed_saved_per_user(env):
    _base, actors = env
    db, clerk = actors["clerk"]
    sdb, shien = actors["shien"]
    assert residents.show_removed(db, clerk) is False  # default off
    residents.save_show_removed(db, clerk, True)
    assert residents.show_removed(db, clerk) is True
    assert residents.show_removed(sdb, shien) is False
    residents.save_show_removed(db, clerk, False)
    assert residents.show_removed(db, clerk) is False
