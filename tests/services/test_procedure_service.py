"""Procedures of a case (F4, F6, F7, F8, F17) through the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parents[1] / "cases"))
from move_samples import TODAY, move_in_family, split_and_join  # noqa: E402

from madoguchi.errors import InputError, StaleWrite  # noqa: E402
from madoguchi.services.cases import CaseService  # noqa: E402
from madoguchi.services.context import Actor  # noqa: E402
from madoguchi.services.procedures import ProcedureService, normalise_answer  # noqa: E402
from madoguchi.store.db import Database  # noqa: E402
from madoguchi.store.models import AnswerRow, AuditEvent, CaseEvent, SelectedProcedure, Staff  # noqa: E402

TANAKA = Actor("tanaka", "田中　窓口", terminal="T01", counter_no="1", permissions=frozenset({"case.write"}))
SATO = Actor("sato", "佐藤　窓口", terminal="T07", counter_no="3", permissions=frozenset({"case.write"}))


@pytest.fixture
def move_in(any_db: Database):
    """(cases, procedures, case) for a family of two moving in from Sapporo."""
    with any_db.session() as s:
        s.add_all([Staff(login="tanaka", display_name="田中　窓口"), Staff(login="sato", display_name="佐藤　窓口")])
        s.commit()
    cases = CaseService(any_db, TANAKA)
    case = cases.open_case(purpose="転入")
    case, _ = cases.save_move(case.id, case.version, move_in_family(), TODAY)
    return cases, ProcedureService(any_db, TANAKA), case


def _rows(db: Database, case_id: int) -> dict[tuple[str, str], SelectedProcedure]:
    with db.session() as s:
        return {(r.procedure_id, r.subject): r for r in s.execute(
            select(SelectedProcedure).where(SelectedProcedure.case_id == case_id)).scalars()}


def test_listing_of_a_real_move_is_stored_once(move_in):
    cases, svc, case = move_in
    listing = svc.listing(case.id)
    assert listing.saved and listing.case.version == case.version + 1
    keys = {r.key for r in listing.rows}
    assert {("juki.tennyu", "new-A"), ("kodomo_iryou.shinsei", "new-2"), ("gakkou.tennyugaku", "new-2")} <= keys
    child = listing.row("kodomo_iryou.shinsei", "new-2")
    assert child.member_name == "札幌　さくら" and "札幌　さくらさん（7歳）" in child.reason_text
    assert child.counter.startswith("1階") and child.department == "こども課"
    assert (child.source, child.selected, child.progress_label) == ("auto", True, "未案内")
    # grouped: the household first, then each member, under the household's title
    assert [(g.member_key, g.title) for g in listing.groups][:2] == [
        (None, "新しい世帯 new-A（世帯主 札幌　一郎）"), ("new-1", "札幌　一郎")]
    assert {g.household_title for g in listing.groups} == {"新しい世帯 new-A（世帯主 札幌　一郎）"}
    # questions to ask now, with the procedures they decide
    q = next(q for q in listing.questions if (q.question_id, q.subject) == ("shakai_hoken", "new-1"))
    assert q.answer_text == "未回答" and q.kind == "yes_no" and "国民健康保険 加入届" in q.decides
    assert set(_rows(cases.db, case.id)) == keys
    assert [e.kind for e in cases.timeline(case.id)][-1] == "procedure"
    # nothing changed: a second listing writes nothing
    again = svc.listing(case.id)
    assert not again.saved and again.case.version == listing.case.version
    assert [r.key for r in again.rows] == [r.key for r in listing.rows]


def test_answer_is_saved_and_relists_at_once(move_in):
    cases, svc, case = move_in
    first = svc.listing(case.id)
    assert first.row("kokuho.shutoku", "new-1") is None
    after = svc.answer(case.id, first.case.version, "shakai_hoken", "new-1", "いいえ")
    assert after.case.version == first.case.version + 1
    assert after.row("kokuho.shutoku", "new-1") is not None
    assert next(q for q in after.questions if (q.question_id, q.subject) == ("shakai_hoken", "new-1")).answer is False
    with cases.db.session() as s:
        stored = s.execute(select(AnswerRow).where(AnswerRow.case_id == case.id)).scalar_one()
        assert (stored.question_id, stored.subject, stored.value, stored.answered_by) == (
            "shakai_hoken", "new-1", False, "tanaka")
        events = s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "answer")).scalars()
        assert [e.summary for e in events] == ["確認事項「勤務先の健康保険（家族の扶養を含む）に加入していますか」"
                                               "（札幌　一郎）: いいえ"]
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "case.answer")) == 1
    # a household question showing member questions (choice), and clearing an answer
    v = svc.answer(case.id, after.case.version, "koseki_todoke", "new-A", True)
    assert ("koseki_jiken", "new-1") in {(q.question_id, q.subject) for q in v.questions}
    with pytest.raises(InputError, match="選択肢にありません"):
        svc.answer(case.id, v.case.version, "koseki_jiken", "new-1", "結婚")
    v = svc.answer(case.id, v.case.version, "koseki_jiken", "new-1", "婚姻")
    assert next(q for q in v.questions if q.question_id == "koseki_jiken" and q.subject == "new-1").answer == "婚姻"
    cleared = svc.answer(case.id, v.case.version, "shakai_hoken", "new-1", None)
    assert cleared.row("kokuho.shutoku", "new-1") is None
    with pytest.raises(InputError, match="「はい」か「いいえ」"):
        svc.answer(case.id, cleared.case.version, "shakai_hoken", "new-1", "たぶん")
    with pytest.raises(InputError, match="この異動にいません"):
        svc.answer(case.id, cleared.case.version, "shakai_hoken", "999999", True)


def test_manual_addition_survives_relisting_and_move_edits(move_in):
    cases, svc, case = move_in
    v = svc.listing(case.id)
    v = svc.add_manual(case.id, v.case.version, "inkan.touroku", "new-1")
    row = v.row("inkan.touroku", "new-1")
    assert (row.source, row.auto, row.selected, row.reason_text) == ("manual", False, True, "個別に追加")
    v = svc.answer(case.id, v.case.version, "ninshin", "new-A", False)
    assert v.row("inkan.touroku", "new-1").source == "manual"
    # the move is edited (another date): still there after the next listing
    move = move_in_family()
    move.move_date = date(2026, 11, 10)
    info, _ = cases.save_move(case.id, v.case.version, move, TODAY)
    assert svc.listing(case.id).row("inkan.touroku", "new-1").source == "manual"
    assert _rows(cases.db, case.id)[("inkan.touroku", "new-1")].source == "manual"
    with pytest.raises(InputError, match="個人ごとの手続き"):
        svc.add_manual(case.id, svc.listing(case.id).case.version, "inkan.touroku", "new-A")


def test_removal_needs_a_reason_and_survives_relisting(move_in):
    cases, svc, case = move_in
    v = svc.listing(case.id)
    with pytest.raises(InputError, match="理由"):
        svc.remove(case.id, v.case.version, "suidou.kaishi_chuushi", "new-A", "  ")
    v = svc.remove(case.id, v.case.version, "suidou.kaishi_chuushi", "new-A", "電話で手続き済み")
    row = v.row("suidou.kaishi_chuushi", "new-A")
    assert (row.selected, row.removed_reason, row.reason_text) == (False, "電話で手続き済み", "外した理由: 電話で手続き済み")
    v = svc.answer(case.id, v.case.version, "inu_shiiku", "new-A", True)
    assert not v.row("suidou.kaishi_chuushi", "new-A").selected
    stored = _rows(cases.db, case.id)[("suidou.kaishi_chuushi", "new-A")]
    assert (stored.selected, stored.removed_reason, stored.source) == (False, "電話で手続き済み", "auto")
    assert "外す" in cases.timeline(case.id)[-2].summary
    v = svc.restore(case.id, v.case.version, "suidou.kaishi_chuushi", "new-A")
    assert v.row("suidou.kaishi_chuushi", "new-A").selected
    # a hand-added item goes away entirely when removed
    v = svc.add_manual(case.id, v.case.version, "inkan.touroku", "new-1")
    v = svc.remove(case.id, v.case.version, "inkan.touroku", "new-1", "不要と確認")
    assert v.row("inkan.touroku", "new-1") is None


def test_stale_version_and_other_terminal_are_rejected(move_in, any_db):
    cases, svc, case = move_in
    v = svc.listing(case.id)
    svc.answer(case.id, v.case.version, "ninshin", "new-A", True)
    with pytest.raises(StaleWrite, match="田中　窓口"):
        svc.answer(case.id, v.case.version, "ninshin", "new-A", False)  # the version before the answer
    other = ProcedureService(any_db, SATO)
    seen = other.listing(case.id)  # may look, writes nothing
    assert not seen.saved
    with pytest.raises(StaleWrite, match="引き継ぐ"):
        other.set_progress(case.id, seen.case.version, "juki.tennyu", "new-A", "done")
    with any_db.session() as s:
        assert s.execute(select(AnswerRow.value).where(AnswerRow.case_id == case.id)).scalar_one() is True
    assert _rows(any_db, case.id)[("juki.tennyu", "new-A")].progress == "todo"


def test_progress_is_saved_and_kept(move_in):
    cases, svc, case = move_in
    v = svc.listing(case.id)
    v = svc.set_progress(case.id, v.case.version, "juki.tennyu", "new-A", "guided")
    assert v.row("juki.tennyu", "new-A").progress_label == "案内済み"
    v = svc.set_progress(case.id, v.case.version, "gakkou.tennyugaku", "new-2", "done")
    v = svc.answer(case.id, v.case.version, "ninshin", "new-A", False)
    assert v.row("juki.tennyu", "new-A").progress == "guided"
    assert _rows(cases.db, case.id)[("gakkou.tennyugaku", "new-2")].progress == "done"
    with pytest.raises(InputError, match="進捗「finished」はありません"):
        svc.set_progress(case.id, v.case.version, "juki.tennyu", "new-A", "finished")
    assert [e.summary for e in cases.timeline(case.id)][-3] == "手続き「転入届」（世帯 new-A）の進捗を「案内済み」に変更"


def test_household_change_lists_per_household(any_db):
    with any_db.session() as s:
        s.add(Staff(login="tanaka", display_name="田中　窓口"))
        s.commit()
    cases = CaseService(any_db, TANAKA)
    case = cases.open_case(purpose="世帯変更")
    case, _ = cases.save_move(case.id, case.version, split_and_join(), TODAY)
    listing = ProcedureService(any_db, TANAKA).listing(case.id)
    assert listing.rows, "a household change lists procedures"
    assert all(r.household_key in ("H001", "H002") for r in listing.rows)
    titles = [g.household_title for g in listing.groups]
    assert any(t.startswith("世帯 H002（世帯主 髙橋　𠮷雄）") for t in titles)


def test_case_without_move_lists_nothing(any_db):
    with any_db.session() as s:
        s.add(Staff(login="tanaka", display_name="田中　窓口"))
        s.commit()
    case = CaseService(any_db, TANAKA).open_case(purpose="証明書")
    svc = ProcedureService(any_db, TANAKA)
    listing = svc.listing(case.id)
    assert listing.rows == [] and "異動がまだ入力されていません" in listing.message
    with pytest.raises(InputError, match="先に異動を入力"):
        svc.add_manual(case.id, listing.case.version, "inkan.touroku", "x")


def test_guidance_and_catalogue_for_the_picker(sqlite_db):
    svc = ProcedureService(sqlite_db, TANAKA)
    g = svc.guidance("juki.tennyu")
    assert g.name == "転入届" and g.explain and g.documents and g.resident_text and g.legal_basis
    entries = svc.all_procedures()
    assert len(entries) > 40 and any(e.manual_only for e in entries)
    with pytest.raises(InputError, match="定義されていません"):
        svc.guidance("nai.tetsuzuki")


@pytest.mark.parametrize(("kind", "given", "stored"), [
    ("yes_no", "はい", True), ("yes_no", False, False), ("choice", "婚姻", "婚姻"),
    ("date", "令和8年11月25日", "2026-11-25"), ("date", date(2026, 1, 2), "2026-01-02"),
    ("number", "１２", 12), ("number", 3, 3), ("text", "  犬1頭  ", "犬1頭"), ("text", "", None),
])
def test_answers_are_normalised_by_kind(kind, given, stored):
    assert normalise_answer(kind, ("なし", "婚姻"), "質問", given) == stored


@pytest.mark.parametrize(("kind", "given", "message"), [
    ("date", "そのうち", "日付"), ("number", "十二", "数字"), ("choice", "出生", "選択肢"), ("yes_no", 1.5, "はい"),
])
def test_wrong_answers_are_japanese_errors(kind, given, message):
    with pytest.raises(InputError, match=message):
        normalise_answer(kind, ("なし", "婚姻"), "質問", given)


def test_listing_computed_apart_from_saving(move_in):
    """The GUI evaluates with save=False off the UI thread, then stores on it; a move saved in between wins."""
    cases, svc, case = move_in
    computed = svc.listing(case.id, save=False)
    assert computed.pending and not computed.saved and computed.case.version == case.version
    assert _rows(cases.db, case.id) == {}
    stored = svc.save_listing(case.id, computed)
    assert stored.saved and stored.case.version == case.version + 1 and not stored.pending
    assert set(_rows(cases.db, case.id)) == {r.key for r in computed.rows}
    assert not svc.listing(case.id, save=False).pending
    # the move changes between computing and storing: the stale selection is refused
    move = move_in_family()
    del move.members["new-2"]
    move.after[0].placements.pop()
    svc.add_manual(case.id, stored.case.version, "inkan.touroku", "new-2")
    before = svc.listing(case.id, save=False)
    info, _ = cases.save_move(case.id, before.case.version, move, TODAY)
    later = svc.listing(case.id, save=False)
    assert later.pending
    with pytest.raises(StaleWrite):
        svc.save_listing(case.id, replace(later, case=before.case))
    assert svc.save_listing(case.id, later).saved
    # new-2 left the move: the items for her are gone, the hand-added one too
    assert not any(key[1] == "new-2" for key in _rows(cases.db, case.id))


def test_catalogue_is_read_once_and_reloaded_on_request():
    from madoguchi.services import procedure_catalogue

    first = procedure_catalogue.catalogue()
    assert procedure_catalogue.catalogue() is first
    fresh = procedure_catalogue.reload()
    assert fresh is not first and procedure_catalogue.catalogue() is fresh
    assert set(fresh.procedures) == set(first.procedures)


def test_missing_definition_folder_is_a_japanese_error(tmp_path):
    from madoguchi.services import procedure_catalogue

    with pytest.raises(InputError, match="手続き定義のフォルダ .* がありません"):
        procedure_catalogue.load(tmp_path / "nai")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="YAML ファイルがありません"):
        procedure_catalogue.load(tmp_path / "empty")


def test_clerk_login_role_on_postgresql(pg_db):
    """With a real clerk's database role (grants, RLS): every procedure write is allowed."""
    import secrets

    from residents_seed import drop_test_roles, make_actor

    login = f"proc_{secrets.token_hex(3)}"
    db, clerk = make_actor(pg_db, login, ["clerk"])
    try:
        cases, svc = CaseService(db, clerk), ProcedureService(db, clerk)
        c = cases.open_case(purpose="転入")
        c, _ = cases.save_move(c.id, c.version, move_in_family(), TODAY)
        v = svc.listing(c.id)
        v = svc.answer(c.id, v.case.version, "shakai_hoken", "new-1", False)
        v = svc.add_manual(c.id, v.case.version, "inkan.touroku", "new-1")
        v = svc.remove(c.id, v.case.version, "inkan.touroku", "new-1", "不要")  # a DELETE
        v = svc.remove(c.id, v.case.version, "suidou.kaishi_chuushi", "new-A", "電話で手続き済み")
        v = svc.set_progress(c.id, v.case.version, "juki.tennyu", "new-A", "done")
        v = svc.answer(c.id, v.case.version, "shakai_hoken", "new-1", None)  # a DELETE of the answer
        assert v.row("kokuho.shutoku", "new-1") is None and v.row("juki.tennyu", "new-A").progress == "done"
        assert not v.row("suidou.kaishi_chuushi", "new-A").selected
    finally:
        db.dispose()
        drop_test_roles([login])
