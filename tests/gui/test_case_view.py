"""Case workspace: auto-save, take-over by another terminal, lost connection — nothing typed is lost."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "cases"))
from move_samples import TODAY  # noqa: E402
from test_move_grid import show_active, type_text  # noqa: E402

from madoguchi.gui.case_list import CaseList  # noqa: E402
from madoguchi.gui.case_view import CaseView  # noqa: E402
from madoguchi.gui.move_models import COL_REL  # noqa: E402
from madoguchi.services import case_runner  # noqa: E402
from madoguchi.services.addresses import CityAddressBook, PostalBook  # noqa: E402
from madoguchi.services.cases import CaseService  # noqa: E402
from madoguchi.services.context import Actor  # noqa: E402
from madoguchi.store.db import Database  # noqa: E402

@pytest.fixture(autouse=True)
def _collect_qt_garbage(qapp):
    """Destroy this test's Qt objects while the application still exists, not at interpreter exit."""
    yield
    qapp.processEvents()
    gc.collect()


FIXTURE = Path(__file__).parents[1] / "e2e" / "cases" / "two_households.yaml"
TANAKA = Actor("tanaka", "田中　窓口", terminal="T01", counter_no="1", permissions=frozenset({"case.write"}))
SATO = Actor("sato", "佐藤　窓口", terminal="T07", counter_no="3", permissions=frozenset({"case.write"}))


@pytest.fixture(params=["sqlite", "postgresql"])
def terminals(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    a = Database.connect(url, terminal="T01")
    b = Database.connect(url, terminal="T07")
    case_runner.seed_fixture(a, case_runner.load_case_file(FIXTURE))
    for actor in (TANAKA, SATO):
        case_runner.ensure_staff(a, actor)
    postal = PostalBook()
    yield CaseService(a, TANAKA), CaseService(b, SATO), postal
    postal.close()
    a.dispose()
    b.dispose()


@pytest.fixture(autouse=True)
def _shipped_fonts(fonts):
    """Screenshots with the fonts the app ships (gaiji such as 𠮷 included)."""


def _view(qtbot, svc, case_id, postal):
    v = CaseView(svc, case_id, city=CityAddressBook(svc.db), postal=postal, today=TODAY)
    qtbot.addWidget(v)
    v.resize(1400, 760)
    show_active(qtbot, v)
    return v


def focus(qtbot, w):
    w.window().activateWindow()
    w.setFocus()
    qtbot.waitUntil(w.hasFocus)


def _start_two_household_move(v):
    v.start_type.setCurrentIndex(v.start_type.findData("move_within"))
    v.start_atena.setText("100003")
    v.start_button.click()
    v.add_household("200001")
    return v.grid


def test_auto_save_of_every_edit(terminals, qtbot, artifacts_dir):
    t1, _t2, postal = terminals
    case = t1.open_case(purpose="転居")
    v = _view(qtbot, t1, case.id, postal)
    grid = _start_two_household_move(v)
    qtbot.waitUntil(lambda: not v.has_unsaved)
    assert t1.get_move(case.id).move.before[1].key == "H002"

    focus(qtbot, grid.before_view)
    grid.before_view.select_member("100003")
    QTest.keyClick(grid.before_view, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not v.has_unsaved)
    stored = t1.get_move(case.id).move
    assert stored.household_after_of("100003").key == "H002"

    av = grid.after_view
    av.setCurrentIndex(grid.after_model.index(grid.after_model.row_of("100003"), COL_REL))
    QTest.keyClick(av, Qt.Key.Key_F2)
    type_text(av.focusWidget(), "妻")
    QTest.keyClick(av.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: t1.get_move(case.id).move.after[1].placements[-1].relationship == "妻")

    # Typing the visitor's name is saved after a short pause (debounced), not per key.
    focus(qtbot, v.visitor_name)
    type_text(v.visitor_name, "深川美咲")
    assert v.has_unsaved
    qtbot.waitUntil(lambda: t1.get_case(case.id).visitor.get("name") == "深川美咲", timeout=3000)

    focus(qtbot, v.memo_edit)
    type_text(v.memo_edit, "賃貸契約書を確認")
    QTest.keyClick(v.memo_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert v.memo_edit.toPlainText() == ""
    assert t1.memos(case.id)[-1][2] == "賃貸契約書を確認"
    kinds = [e.kind for e in t1.timeline(case.id)]
    assert kinds[0] == "open" and "move" in kinds and kinds[-2:] == ["visitor", "memo"]
    assert v.timeline_list.count() == len(kinds)
    assert v.save_state.text().startswith("保存済み")
    v.grab().save(str(artifacts_dir / "screens" / "case_view.png"))


def test_take_over_then_old_terminal_keeps_edit_and_explains(terminals, qtbot, artifacts_dir):
    t1, t2, postal = terminals
    case = t1.open_case(purpose="転居")
    v1 = _view(qtbot, t1, case.id, postal)
    grid = _start_two_household_move(v1)
    qtbot.waitUntil(lambda: not v1.has_unsaved)

    # Another counter takes the case over (the resident walked to counter 3).
    t2.take_over(case.id)

    # The old terminal's next edit fails cleanly; the edit stays on its screen.
    focus(qtbot, grid.after_view)
    grid.after_view.select_member("100003")
    QTest.keyClick(grid.after_view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: v1.banner.isVisible())
    assert "この対応は 佐藤　窓口（端末T07）に引き継がれました" in v1.banner.text()
    assert v1.has_unsaved and v1.save_state.text() == "保存できませんでした"
    assert v1.editor.move.household_after_of("100003").key == "new-A"   # still on screen
    assert t2.get_move(case.id).move.household_after_of("100003").key == "H001"  # not written
    assert v1.take_over_button.isVisible()
    assert v1.holder.text().startswith("担当: 佐藤　窓口（端末T07）")
    v1.grab().save(str(artifacts_dir / "screens" / "case_view_taken_over.png"))

    # Further edits while blocked queue up and are not sent.
    type_text(v1.visitor_name, "深川")
    QTest.qWait(600)
    assert t2.get_case(case.id).visitor.get("name") != "深川"

    # 「引き継ぐ」 takes it back and re-applies what was kept.
    v1.take_over_button.click()
    assert not v1.banner.isVisible() and not v1.has_unsaved
    assert t1.get_move(case.id).move.household_after_of("100003").key == "new-A"
    assert t1.get_case(case.id).visitor["name"] == "深川"
    assert [e.kind for e in t1.timeline(case.id)][-4:-2] == ["take_over", "take_over"]


def test_lost_connection_keeps_edit_and_retries(terminals, qtbot, monkeypatch):
    t1, _t2, postal = terminals
    case = t1.open_case(purpose="転居")
    v = _view(qtbot, t1, case.id, postal)
    grid = _start_two_household_move(v)
    qtbot.waitUntil(lambda: not v.has_unsaved)
    good = t1.db
    t1.db = Database.connect("postgresql+psycopg://nobody@127.0.0.1:1/none", check=False)
    monkeypatch.setattr("madoguchi.gui.case_view.RETRY_MS", 200)
    try:
        focus(qtbot, grid.after_view)
        grid.after_view.select_member("100003")
        QTest.keyClick(grid.after_view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: v.banner.isVisible())
        assert v.banner.text().startswith("サーバに接続できません。入力した内容は画面に残っています。")
        assert v.has_unsaved
    finally:
        t1.db.dispose()
        t1.db = good
    # The retry timer saves it once the server is back.
    qtbot.waitUntil(lambda: not v.has_unsaved, timeout=15000)
    assert not v.banner.isVisible()
    assert t1.get_move(case.id).move.household_after_of("100003").key == "new-A"


def test_case_list_shows_holders_and_takes_over(terminals, qtbot, artifacts_dir):
    t1, t2, _postal = terminals
    mine = t1.open_case(purpose="転居", visitor={"name": "深川　美咲"})
    other = t2.open_case(purpose="証明書", visitor={"name": "髙橋　𠮷雄"})
    lst = CaseList(t1)
    qtbot.addWidget(lst)
    lst.resize(900, 300)
    show_active(qtbot, lst)
    rows = {lst.model.index(r, 0).data(): r for r in range(lst.model.rowCount())}
    assert set(rows) == {mine.case_no, other.case_no}
    r = rows[other.case_no]
    assert lst.model.index(r, 4).data() == "佐藤　窓口（端末T07）"
    lst.view.selectRow(r)
    assert lst.take_button.isEnabled()
    lst.view.selectRow(rows[mine.case_no])
    assert not lst.take_button.isEnabled()
    lst.view.selectRow(r)
    lst.grab().save(str(artifacts_dir / "screens" / "case_list.png"))
    with qtbot.waitSignal(lst.open_requested) as sig:
        lst.take_button.click()
    assert sig.args == [other.id]
    assert t2.get_case(other.id).holder_terminal == "T01"
    assert "前の担当: 佐藤　窓口（端末T07）" in lst.message.text()
    r = {lst.model.index(i, 0).data(): i for i in range(lst.model.rowCount())}[other.case_no]
    assert lst.model.index(r, 4).data() == "田中　窓口（端末T01）"


def test_case_screens_in_the_main_window(seeded, clerk, demo_config, fonts, qtbot, artifacts_dir):
    from madoguchi.gui.case_list import CaseScreens
    from madoguchi.gui.main_window import MainWindow

    win = MainWindow(seeded, clerk, demo_config)
    qtbot.addWidget(win)
    screens = CaseScreens(win, seeded, clerk, today=TODAY)
    show_active(qtbot, win)
    assert win.tabs.indexOf(screens.case_list) >= 0
    view = screens.new_case(purpose="転入")
    assert win.tabs.currentWidget() is view
    assert win.tabs.tabText(win.tabs.indexOf(view)) == f"対応 {view.case.case_no}"
    assert win.household_view.case_id == view.case.id
    assert screens.open_case(view.case.id) is view  # one workspace per case
    focus(qtbot, view.purpose)
    view.purpose.selectAll()
    type_text(view.purpose, "転入・児童手当")
    qtbot.waitUntil(lambda: screens.service.get_case(view.case.id).purpose == "転入・児童手当", timeout=3000)
    assert screens.case_list.model.index(0, 2).data() == "転入・児童手当"
    win.grab().save(str(artifacts_dir / "screens" / "case_in_main_window.png"))
    screens.postal.close()


def test_move_out_started_from_a_resident(terminals, qtbot):
    t1, _t2, postal = terminals
    case = t1.open_case(purpose="転出")
    v = _view(qtbot, t1, case.id, postal)
    v.start_type.setCurrentIndex(v.start_type.findData("move_out"))
    v.start_atena.setText("100003")
    v.start_button.click()
    qtbot.waitUntil(lambda: not v.has_unsaved)
    stored = t1.get_move(case.id).move
    assert stored.move_type.value == "move_out" and stored.household_after_of("100003") is None
    assert [p.member_key for p in stored.after[0].placements] == ["100001", "100002"]
    assert v.grid.to_button.isVisible()
    v.start_atena.setText("999999")
    # An unknown 宛名 is a Japanese message, not a crash (the panel is hidden once a move exists).
    v.add_household("999999")
    assert "999999 の住民は見つかりません" in v.banner.text()


def test_other_terminals_refresh_via_notify(pg_url, qtbot):
    """LISTEN/NOTIFY: the list on T01 shows a case T07 opened, and an open workspace reloads."""
    from madoguchi.services.cases import CaseListener
    a = Database.connect(pg_url, terminal="T01")
    b = Database.connect(pg_url, terminal="T07")
    for actor in (TANAKA, SATO):
        case_runner.ensure_staff(a, actor)
    t1, t2 = CaseService(a, TANAKA), CaseService(b, SATO)
    listener = CaseListener(a)
    try:
        lst = CaseList(t1, listener=listener)
        qtbot.addWidget(lst)
        assert lst.model.rowCount() == 0
        c = t2.open_case(purpose="証明書")
        qtbot.waitUntil(lambda: lst.model.rowCount() == 1, timeout=5000)
        seen = []
        lst.remote_change.connect(lambda cid, ver: seen.append((cid, ver)))
        t2.add_memo(c.id, c.version, "窓口3で対応中")
        qtbot.waitUntil(lambda: (c.id, c.version + 1) in seen, timeout=5000)
    finally:
        listener.close()
        a.dispose()
        b.dispose()


def _drive_modal(qtbot, steps):
    """Run `steps(dialog)` on the next modal dialog once it is shown (the test thread is blocked in exec)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    done = []

    def poll():
        dlg = QApplication.activeModalWidget()
        if dlg is None:
            QTimer.singleShot(20, poll)
            return
        steps(dlg)
        done.append(dlg)
    QTimer.singleShot(0, poll)
    return done


def test_household_address_picked_with_the_keyboard_in_the_workspace(terminals, qtbot):
    t1, _t2, postal = terminals
    case = t1.open_case(purpose="世帯分離")
    v = _view(qtbot, t1, case.id, postal)
    grid = _start_two_household_move(v)
    focus(qtbot, grid.after_view)
    grid.after_view.select_member("100003")
    QTest.keyClick(grid.after_view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)

    def pick(dlg):
        edit = dlg.town_list.edit
        type_text(edit, "にじ")
        QTest.keyClick(edit, Qt.Key.Key_Return)
        QTest.keyClicks(dlg.banchi_list.edit, "7")
        QTest.keyClick(dlg.banchi_list.edit, Qt.Key.Key_Return)   # 7番3号 has no 方書: done
    done = _drive_modal(qtbot, pick)
    grid.after_view.select_household("new-A")
    QTest.keyClick(grid.after_view, Qt.Key.Key_F4)
    assert done
    qtbot.waitUntil(lambda: not v.has_unsaved)
    stored = t1.get_move(case.id).move
    assert stored.after[-1].address.line() == "北海道深川市二条7番3号"
    assert stored.after[-1].address.town_code == "002"


def test_newcomer_dialog_from_the_keyboard(terminals, qtbot):
    t1, _t2, postal = terminals
    case = t1.open_case(purpose="転入")
    v = _view(qtbot, t1, case.id, postal)
    v.start_type.setCurrentIndex(v.start_type.findData("move_in"))
    v.start_button.click()

    def fill(dlg):
        type_text(dlg.name, "札幌　一郎")
        type_text(dlg.kana, "サッポロ　イチロウ")
        QTest.keyClicks(dlg.birth, "S60.2.28")
        QTest.keyClick(dlg.birth, Qt.Key.Key_Return)
    done = _drive_modal(qtbot, fill)
    v.grid.btn_newcomer.click()
    assert done
    qtbot.waitUntil(lambda: not v.has_unsaved)
    stored = t1.get_move(case.id).move
    m = stored.members["new-1"]
    assert (m.name, m.birth_date.isoformat(), m.atena_no) == ("札幌　一郎", "1985-02-28", None)
    assert stored.after[0].placements[0].relationship == "世帯主"


def test_case_list_model_passes_model_tester(terminals, qtmodeltester):
    from madoguchi.gui.case_list import CaseListModel
    t1, t2, _postal = terminals
    t1.open_case(purpose="転居")
    t2.open_case(purpose="証明書")
    model = CaseListModel("tanaka", "T01")
    model.set_cases(t1.list_open_cases())
    qtmodeltester.check(model)
    assert model.rowCount() == 2


def test_clerk_roles_on_postgresql_do_the_whole_hand_over(pg_staff):
    """Not the superuser: two real clerk login roles (RLS, grants) as two terminals."""
    from dataclasses import replace

    from madoguchi.errors import StaleWrite
    from madoguchi.services.cases import CaseListener, household_states
    from move_samples import split_and_join

    base, make = pg_staff
    case_runner.seed_fixture(base, case_runner.load_case_file(FIXTURE))
    db_a, a = make("case_a", ["clerk"])
    db_b, b = make("case_b", ["clerk"])
    a, b = replace(a, terminal="T01"), replace(b, terminal="T07")
    t1, t2 = CaseService(db_a, a), CaseService(db_b, b)
    listener = CaseListener(db_b)
    try:
        members, before = household_states(db_a, ["100003"])
        assert [p.member_key for p in before[0].placements] == ["100001", "100002", "100003"]
        c = t1.open_case(purpose="転居")
        c, _ = t1.save_move(c.id, c.version, split_and_join(), TODAY)
        c = t1.add_memo(c.id, c.version, "窓口1で受付")
        t2.take_over(c.id)
        with pytest.raises(StaleWrite, match=f"{b.display_name}（端末T07）に引き継がれました"):
            t1.add_memo(c.id, c.version, "古い画面から")
        got = listener.poll(timeout=2.0)
        assert {g["kind"] for g in got} >= {"open", "move", "memo", "take_over"}
        assert [e.kind for e in t2.timeline(c.id)] == ["open", "move", "memo", "take_over"]
    finally:
        listener.close()
