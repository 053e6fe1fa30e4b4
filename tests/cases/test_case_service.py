"""Cases: auto-save, optimistic locking and hand-over between two terminals, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from move_samples import TODAY, move_in_family, split_and_join
from sqlalchemy import func, select

from madoguchi.domain.moves import Level
from madoguchi.errors import InputError, StaleWrite
from madoguchi.services.cases import CaseListener, CaseService
from madoguchi.services.context import Actor
from madoguchi.store.db import Database
from madoguchi.store.models import AuditEvent, CaseEvent, Staff

TANAKA = Actor("tanaka", "田中　窓口", terminal="T01", counter_no="1", permissions=frozenset({"case.write"}))
SATO = Actor("sato", "佐藤　窓口", terminal="T07", counter_no="3", permissions=frozenset({"case.write"}))


def _staff(db: Database) -> None:
    with db.session() as s:
        s.add_all([Staff(login="tanaka", display_name="田中　窓口"), Staff(login="sato", display_name="佐藤　窓口")])
        s.commit()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_terminals(request):
    """Two Database objects on the same database: two counter PCs."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    a = Database.connect(url, terminal="T01")
    b = Database.connect(url, terminal="T07")
    _staff(a)
    yield CaseService(a, TANAKA), CaseService(b, SATO)
    a.dispose()
    b.dispose()


def test_open_case_numbers_per_day_and_holder(two_terminals):
    t1, t2 = two_terminals
    c1 = t1.open_case(purpose="転居", visitor={"name": "深川　美咲", "relation": "本人"})
    c2 = t2.open_case(purpose="証明書")
    assert c1.case_no.endswith("-001") and c2.case_no.endswith("-002")
    assert c1.case_no[:8] == c2.case_no[:8] and len(c1.case_no) == 12
    assert (c1.holder_login, c1.holder_terminal, c1.holder_name) == ("tanaka", "T01", "田中　窓口")
    listed = {c.case_no: c for c in t2.list_open_cases()}
    assert listed[c1.case_no].holder_text == "田中　窓口（端末T01）"


def test_case_no_uses_japan_day(sqlite_db):
    # 2026-11-25 20:00 UTC is already 26 Nov in Japan.
    svc = CaseService(sqlite_db, TANAKA, clock=lambda: datetime(2026, 11, 25, 20, 0, tzinfo=UTC))
    assert svc.open_case(purpose="転入").case_no == "20261126-001"
    assert svc.open_case(purpose="転入").case_no == "20261126-002"


def test_every_edit_saves_at_once_with_event_and_audit(two_terminals):
    t1, _ = two_terminals
    c = t1.open_case(purpose="世帯変更")
    c = t1.set_visitor(c.id, c.version, {"name": "深川　美咲", "relation": "本人", "atena_no": "100003"})
    c, findings = t1.save_move(c.id, c.version, split_and_join(), TODAY)
    assert [f for f in findings if f.level is Level.ERROR] == []
    c = t1.add_memo(c.id, c.version, "転居先の賃貸契約書を確認済み")
    c = t1.set_status(c.id, c.version, "waiting", "国保窓口へ案内中")
    kinds = [e.kind for e in t1.timeline(c.id)]
    assert kinds == ["open", "visitor", "move", "memo", "status"]
    assert c.version == 5 and c.status == "waiting"
    stored = t1.get_move(c.id)
    assert stored.move == split_and_join()
    with t1.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("case.%"))) == 5
    assert t1.memos(c.id)[0][2] == "転居先の賃貸契約書を確認済み"
    tl = t1.timeline(c.id)
    assert tl[-1].display_name == "田中　窓口" and tl[-1].terminal == "T01"


def test_save_move_stores_findings_and_never_blocks(two_terminals):
    t1, _ = two_terminals
    c = t1.open_case(purpose="転入")
    move = move_in_family()
    move.after[0].placements[1].relationship = ""   # missing 続柄 → error
    move.notified_on = TODAY
    move.move_date = TODAY.replace(day=1).replace(month=10)  # late → warning
    c, findings = t1.save_move(c.id, c.version, move, TODAY)
    levels = sorted(f.level.value for f in findings)
    assert levels == ["error", "warning"]
    rec = t1.get_move(c.id)
    assert rec.move == move and rec.findings == findings
    assert "警告1件" in t1.timeline(c.id)[-1].summary


def test_stale_version_is_rejected_and_names_who_changed_it(two_terminals):
    t1, _ = two_terminals
    c = t1.open_case(purpose="転居")
    seen = c.version
    c2 = t1.add_memo(c.id, seen, "一つ目")
    with pytest.raises(StaleWrite) as e:
        t1.add_memo(c.id, seen, "古い画面からのメモ")
    assert "田中　窓口（端末T01）" in e.value.message and "一つ目" in e.value.message
    assert [m[2] for m in t1.memos(c.id)] == ["一つ目"]
    assert t1.get_case(c.id).version == c2.version


def test_take_over_then_old_terminal_write_fails_and_nothing_is_lost(two_terminals):
    t1, t2 = two_terminals
    c = t1.open_case(purpose="世帯変更")
    c, _ = t1.save_move(c.id, c.version, split_and_join(), TODAY)
    old_seen = c.version

    taken = t2.take_over(c.id)
    assert (taken.holder_login, taken.holder_terminal) == ("sato", "T07")
    assert taken.version == old_seen + 1
    assert t2.timeline(c.id)[-1].summary == "田中　窓口（端末T01） から 佐藤　窓口（端末T07） へ引き継ぎ"

    # The old terminal still has an unsaved edit on screen.
    edited = split_and_join()
    edited.after[1].placements[1].relationship = "未届の妻"
    with pytest.raises(StaleWrite) as e:
        t1.save_move(c.id, old_seen, edited, TODAY)
    assert "この対応は 佐藤　窓口（端末T07）に引き継がれました" in e.value.message
    assert "入力中の内容は画面に残っています" in e.value.message
    assert t2.get_move(c.id).move == split_and_join()  # nothing half-written

    # The new holder re-applies the edit; then the old terminal takes it back.
    c = t2.get_case(c.id)
    c, _ = t2.save_move(c.id, c.version, edited, TODAY)
    back = t1.take_over(c.id)
    c, _ = t1.save_move(back.id, back.version, edited, TODAY)
    assert t1.get_move(c.id).move.after[1].placements[1].relationship == "未届の妻"
    kinds = [(e.kind, e.terminal) for e in t1.timeline(c.id)]
    assert kinds == [("open", "T01"), ("move", "T01"), ("take_over", "T07"), ("move", "T07"),
                     ("take_over", "T01"), ("move", "T01")]


def test_concurrent_writes_from_the_same_version_one_wins(two_terminals):
    t1, _ = two_terminals
    c = t1.open_case(purpose="転居")
    # Two windows of the same terminal (or a retry) based on the same version: first wins.
    t1.add_memo(c.id, c.version, "A")
    with pytest.raises(StaleWrite):
        t1.set_visitor(c.id, c.version, {"name": "B"})
    assert t1.get_case(c.id).visitor == {}


def test_race_between_read_and_update_is_caught(pg_url):
    """Both transactions read version N; the second UPDATE matches no row → StaleWrite, not overwrite."""
    a = Database.connect(pg_url, terminal="T01")
    _staff(a)
    svc = CaseService(a, TANAKA)
    c = svc.open_case(purpose="転居")
    from madoguchi.services import cases as cases_mod
    from madoguchi.store.models import CaseRow
    with a.uow(TANAKA.info) as u1, a.uow(TANAKA.info) as u2:
        r1 = cases_mod.load_for_write(u1.session, TANAKA, c.id, c.version)
        r2 = cases_mod.load_for_write(u2.session, TANAKA, c.id, c.version)
        cases_mod.bump_case(u1.session, TANAKA, r1, "memo", "先", None, datetime.now(UTC))
        u1.commit()
        r2.purpose = "後から上書き"
        with pytest.raises(StaleWrite):
            cases_mod.bump_case(u2.session, TANAKA, r2, "memo", "後", None, datetime.now(UTC))
    with a.session() as s:
        assert s.get(CaseRow, c.id).purpose == "転居"
    a.dispose()


def test_wrong_status_and_empty_memo_are_input_errors(two_terminals):
    t1, _ = two_terminals
    c = t1.open_case()
    with pytest.raises(InputError):
        t1.add_memo(c.id, c.version, "  ")
    with pytest.raises(InputError):
        t1.set_status(c.id, c.version, "finished")
    c = t1.set_status(c.id, c.version, "done")
    with pytest.raises(InputError, match="完了"):
        t1.add_memo(c.id, c.version, "完了後のメモ")
    c = t1.set_status(c.id, c.version, "open", "追加の届出")
    assert t1.add_memo(c.id, c.version, "再開後のメモ").status == "open"
    assert [x.id for x in t1.list_open_cases()] == [c.id]


def test_notify_reaches_other_terminal_after_commit(pg_url):
    a = Database.connect(pg_url, terminal="T01")
    b = Database.connect(pg_url, terminal="T07")
    _staff(a)
    listener = CaseListener(b)
    try:
        c = CaseService(a, TANAKA).open_case(purpose="転入")
        CaseService(a, TANAKA).add_memo(c.id, c.version, "x")
        got = listener.poll(timeout=2.0)
        while len(got) < 2:
            more = listener.poll(timeout=2.0)
            if not more:
                break
            got += more
        assert [(g["case_id"], g["kind"], g["terminal"]) for g in got] == [(c.id, "open", "T01"), (c.id, "memo", "T01")]
    finally:
        listener.close()
        a.dispose()
        b.dispose()


def test_case_events_store_version(sqlite_db):
    svc = CaseService(sqlite_db, TANAKA)
    c = svc.open_case()
    c = svc.add_memo(c.id, c.version, "m")
    with sqlite_db.session() as s:
        versions = [e.data["version"] for e in s.scalars(select(CaseEvent).order_by(CaseEvent.id))]
    assert versions == [1, 2]


def test_writes_need_the_case_write_right(sqlite_db):
    from madoguchi.errors import PermissionDenied
    viewer = Actor("viewer", "閲覧のみ", terminal="T02")
    with pytest.raises(PermissionDenied, match="対応の受付・編集"):
        CaseService(sqlite_db, viewer).open_case(purpose="転居")
    c = CaseService(sqlite_db, TANAKA).open_case(purpose="転居")
    with pytest.raises(PermissionDenied):
        CaseService(sqlite_db, viewer).take_over(c.id)
    assert CaseService(sqlite_db, viewer).get_case(c.id).holder_login == "tanaka"


def test_case_numbers_stay_unique_when_counters_open_at_once(two_terminals):
    """Many counters pressing 「新しい対応」 at the same moment: unique, gap-free numbers."""
    from concurrent.futures import ThreadPoolExecutor
    t1, t2 = two_terminals
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit((t1 if i % 2 else t2).open_case, purpose=f"同時{i}") for i in range(12)]
        numbers = sorted(f.result().case_no for f in futures)
    assert [n[-3:] for n in numbers] == [f"{i:03d}" for i in range(1, 13)]
