"""本人確認: document sufficiency, stated-vs-宛名 differences, recording with/without a case, proxies."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

import pytest
from residents_seed import drop_test_roles, make_actor, seed
from sqlalchemy import select

from madoguchi.domain import identity as rules
from madoguchi.errors import InputError, PermissionDenied
from madoguchi.services import identity
from madoguchi.store.models import AuditEvent, CaseRow, IdentityCheckRow


@pytest.mark.parametrize("docs, ok", [
    (["mynumber_card"], True),
    (["driver_license", "bankbook"], True),
    (["kenko_hoken"], False),
    (["kenko_hoken", "kenko_hoken"], False),   # the same document twice is still one
    (["kenko_hoken", "nenkin_techo"], True),
    ([], False),
    (["library_card"], False),
])
def test_sufficiency(docs, ok):
    assert rules.sufficiency(docs).ok is ok


def test_sufficiency_messages_are_japanese():
    assert "もう1点必要" in rules.sufficiency(["kenko_hoken"]).message
    assert rules.sufficiency(["passport"]).message.startswith("旅券")


def test_compare_flags_each_difference():
    rec = {"name": "山田\u3000太郎", "name_kana": "ヤマダ\u3000タロウ", "birth_date": date(1980, 12, 26),
           "address": "北海道深川市あけぼの町3番12号"}
    same = rules.compare({"name": "山田太郎", "birth_date": date(1980, 12, 26),
                          "address": "あけぼの町３番１２号"}, rec)
    assert [c.match for c in same] == [True, True, True]
    diff = rules.compare({"name": "山田　太朗", "name_kana": "やまだ たろー", "birth_date": date(1980, 12, 27),
                          "address": "あけぼの町3番21号"}, rec)
    assert [(c.label, c.match) for c in diff] == [("氏名", False), ("フリガナ", True), ("生年月日", False),
                                                  ("住所", False)]
    assert diff[2].stated == "昭和55年12月27日" and diff[2].recorded == "昭和55年12月26日"
    assert rules.outcome(rules.sufficiency(["passport"]), diff) == "mismatch"
    assert rules.outcome(rules.sufficiency(["passport"]), same) == "ok"
    assert rules.outcome(rules.sufficiency(["bankbook"]), same) == "insufficient"


@pytest.fixture
def clerk(any_db):
    seed(any_db)
    login = f"clerk_{secrets.token_hex(3)}"
    db, actor = make_actor(any_db, login, ["clerk"])
    yield any_db, db, actor
    if db is not any_db:
        db.dispose()
    if any_db.dialect == "postgresql":
        drop_test_roles([login])


def _case(base, login) -> int:
    now = datetime.now(UTC)
    with base.session() as s:
        row = CaseRow(case_no=f"T-{secrets.token_hex(3)}", opened_at=now, opened_by=login, updated_at=now)
        s.add(row)
        s.commit()
        return row.id


def test_record_before_case_then_attach_and_proxy(clerk):
    base, db, actor = clerk
    prev = identity.preview(db, actor, "1001", ["kenko_hoken"], {"name": "山田太郎",
                                                                 "birth_date": date(1980, 12, 26)})
    assert prev.outcome == "insufficient" and prev.differences == []
    chk = identity.record_identity_check(
        db, actor, atena_no="1001", documents=["driver_license"],
        stated={"name": "山田 太郎", "birth_date": date(1980, 12, 26), "address": "あけぼの町3番1号"})
    assert chk.outcome == "mismatch" and [d.label for d in chk.preview.differences] == ["住所"]
    proxy = identity.record_identity_check(
        db, actor, atena_no=None, subject="proxy", documents=["mynumber_card"],
        stated={"name": "鈴木　一郎", "birth_date": date(1970, 1, 1), "for_atena_no": "1001"},
        note="委任状あり")
    assert proxy.outcome == "ok"
    case_id = _case(base, actor.login)
    identity.attach_to_case(db, actor, [chk.id, proxy.id], case_id)
    rows = identity.checks_for_case(db, case_id)
    assert [(r.subject, r.result) for r in rows] == [("visitor", "mismatch"), ("proxy", "ok")]
    assert rows[0].checked_by == actor.login
    assert rows[0].documents == [{"code": "driver_license", "label": "運転免許証"}]
    assert rows[0].differences[0]["recorded"] == "北海道深川市あけぼの町3番12号"
    assert rows[0].stated["matched"] == ["氏名", "生年月日"]
    assert rows[1].stated["note"] == "委任状あり"
    with base.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "identity.check")).all()
    assert len(ev) == 2
    other = _case(base, actor.login)
    with pytest.raises(InputError, match="別の対応"):
        identity.attach_to_case(db, actor, [chk.id], other)


def test_record_with_case_and_input_errors(clerk):
    base, db, actor = clerk
    case_id = _case(base, actor.login)
    chk = identity.record_identity_check(db, actor, atena_no="1004", documents=["kenko_hoken", "bankbook"],
                                         stated={"name": "佐藤京子"}, case_id=case_id)
    assert chk.outcome == "ok"
    with base.session() as s:
        assert s.get(IdentityCheckRow, chk.id).case_id == case_id
    with pytest.raises(InputError, match="書類"):
        identity.record_identity_check(db, actor, atena_no="1004", documents=[], stated={})
    with pytest.raises(InputError, match="見つかりません"):
        identity.record_identity_check(db, actor, atena_no="9999", documents=["passport"], stated={})
    with pytest.raises(InputError, match="宛名"):
        identity.record_identity_check(db, actor, atena_no=None, documents=["passport"], stated={})


def test_restricted_address_comparison_reveals_nothing(clerk):
    _base, db, actor = clerk
    prev = identity.preview(db, actor, "1006", ["passport"], {"address": "広里町99番地"})
    assert prev.comparisons[0].match is False and prev.comparisons[0].recorded == ""


def test_identity_check_needs_case_write(any_db):
    seed(any_db)
    login = f"shien_{secrets.token_hex(3)}"
    db, actor = make_actor(any_db, login, ["shien"])
    try:
        with pytest.raises(PermissionDenied):
            identity.record_identity_check(db, actor, atena_no="1001", documents=["passport"], stated={})
    finally:
        if db is not any_db:
            db.dispose()
        if any_db.dialect == "postgresql":
            drop_test_roles([login])
