"""Procedure panel: list, questions and guidance, driven from the keyboard (pytest-qt, offscreen)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "cases"))
from conftest import shot  # noqa: E402
from move_samples import TODAY, move_in_family, split_and_join  # noqa: E402
from test_move_grid import show_active  # noqa: E402

from madoguchi.gui.procedure_panel import COL_NAME, COL_PROGRESS, COL_REASON, ProcedurePanel  # noqa: E402
from madoguchi.services import case_runner  # noqa: E402
from madoguchi.services.cases import CaseService  # noqa: E402
from madoguchi.services.context import Actor  # noqa: E402
from madoguchi.services.procedures import ProcedureService  # noqa: E402
from madoguchi.store.models import AnswerRow, SelectedProcedure, Staff  # noqa: E402

TANAKA = Actor("tanaka", "田中　窓口", terminal="T01", counter_no="1", permissions=frozenset({"case.write"}))


@pytest.fixture
def case(sqlite_db):
    with sqlite_db.session() as s:
        s.add(Staff(login="tanaka", display_name="田中　窓口"))
        s.commit()
    cases = CaseService(sqlite_db, TANAKA)
    c = cases.open_case(purpose="転入")
    c, _ = cases.save_move(c.id, c.version, move_in_family(), TODAY)
    return cases, c


@pytest.fixture
def panel(case, qtbot, fonts):
    cases, c = case
    p = ProcedurePanel(ProcedureService(cases.db, TANAKA), c.id)
    qtbot.addWidget(p)
    p.resize(1280, 780)
    show_active(qtbot, p)
    idle(qtbot, p)
    yield p
    p.wait_idle()  # no worker may hold a connection when the database goes


def idle(qtbot, p: ProcedurePanel) -> None:
    qtbot.waitUntil(lambda: p.listing is not None and not p.busy, timeout=15000)


def go_to(qtbot, p: ProcedurePanel, procedure_id: str, subject: str) -> None:
    """Walk the list with the arrow keys until the row is current, like a clerk."""
    p.tree.setFocus()
    qtbot.waitUntil(p.tree.hasFocus)
    QTest.keyClick(p.tree, Qt.Key.Key_Home)
    for _ in range(60):
        row = p.current_row()
        if row is not None and row.key == (procedure_id, subject):
            return
        QTest.keyClick(p.tree, Qt.Key.Key_Down)
    raise AssertionError(f"{procedure_id}/{subject} not in the list")


def test_list_grouped_by_household_and_member(panel, case):
    cases, c = case
    tree = panel.tree
    top = tree.topLevelItem(0)
    assert top.text(COL_NAME) == "新しい世帯 new-A（世帯主 札幌　一郎）"
    first = top.child(0)
    assert first.text(COL_NAME) == "転入届" and first.checkState(COL_NAME) == Qt.CheckState.Checked
    assert first.text(COL_REASON) == "市外から転入するため" and first.text(COL_PROGRESS) == "未案内"
    members = [top.child(i).text(COL_NAME) for i in range(top.childCount()) if top.child(i).childCount()]
    assert members == ["札幌　一郎 さん", "札幌　さくら さん"]
    sakura = next(top.child(i) for i in range(top.childCount()) if top.child(i).text(COL_NAME) == "札幌　さくら さん")
    assert "子ども医療費受給者証 交付申請" in [sakura.child(i).text(COL_NAME) for i in range(sakura.childCount())]
    # the listing was stored on the case on first showing
    with cases.db.session() as s:
        assert s.scalar(select(SelectedProcedure.procedure_id).where(
            SelectedProcedure.procedure_id == "juki.tennyu")) == "juki.tennyu"
    assert panel.guidance.toPlainText().startswith("転入届")


def test_keyboard_remove_with_reason_restore_progress_and_guidance(panel, qtbot, case):
    cases, c = case
    asked = []
    panel.ask_reason = lambda name: asked.append(name) or "電話で手続き済み"
    go_to(qtbot, panel, "suidou.kaishi_chuushi", "new-A")
    QTest.keyClick(panel.tree, Qt.Key.Key_Space)  # uncheck → reason → removed
    idle(qtbot, panel)
    assert asked == ["水道の使用開始・中止"]
    item = panel.item_for("suidou.kaishi_chuushi", "new-A")
    assert item.checkState(COL_NAME) == Qt.CheckState.Unchecked
    assert item.text(COL_REASON) == "外した理由: 電話で手続き済み"
    assert panel.current_row().key == ("suidou.kaishi_chuushi", "new-A")  # the cursor stays
    # cancelling the reason keeps the procedure
    go_to(qtbot, panel, "juki.tennyu", "new-A")
    panel.ask_reason = lambda name: None
    QTest.keyClick(panel.tree, Qt.Key.Key_Delete)
    assert panel.item_for("juki.tennyu", "new-A").checkState(COL_NAME) == Qt.CheckState.Checked
    # Space again on the removed one restores it
    go_to(qtbot, panel, "suidou.kaishi_chuushi", "new-A")
    QTest.keyClick(panel.tree, Qt.Key.Key_Space)
    idle(qtbot, panel)
    assert panel.item_for("suidou.kaishi_chuushi", "new-A").checkState(COL_NAME) == Qt.CheckState.Checked
    # progress through its mnemonic: Alt+P, Down → 案内済み
    go_to(qtbot, panel, "juki.tennyu", "new-A")
    QTest.keyClick(panel, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(panel.progress_combo.hasFocus)
    QTest.keyClick(panel.progress_combo, Qt.Key.Key_Down)
    idle(qtbot, panel)
    assert panel.item_for("juki.tennyu", "new-A").text(COL_PROGRESS) == "案内済み"
    with cases.db.session() as s:
        assert s.scalar(select(SelectedProcedure.progress).where(
            SelectedProcedure.procedure_id == "juki.tennyu")) == "guided"
    # Enter opens the guidance of the current procedure
    go_to(qtbot, panel, "kodomo_iryou.shinsei", "new-2")
    QTest.keyClick(panel.tree, Qt.Key.Key_Return)
    qtbot.waitUntil(panel.guidance.hasFocus)
    text = panel.guidance.toPlainText()
    assert text.startswith("子ども医療費受給者証 交付申請") and "お持ちいただくもの" in text
    QTest.keyClick(panel, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(panel.tree.hasFocus)


def test_answering_relists_at_once(panel, qtbot, case, screens):
    cases, c = case
    assert panel.item_for("kokuho.shutoku", "new-1") is None
    w = panel.question_widget("shakai_hoken", "new-1")
    assert isinstance(w, QComboBox) and w.currentText() == "（未回答）"
    w.setFocus()
    qtbot.waitUntil(w.hasFocus)
    QTest.keyClick(w, Qt.Key.Key_Down)  # はい
    QTest.keyClick(w, Qt.Key.Key_Down)  # いいえ
    idle(qtbot, panel)
    assert panel.question_widget("shakai_hoken", "new-1").currentText() == "いいえ"
    assert panel.item_for("kokuho.shutoku", "new-1") is not None
    with cases.db.session() as s:
        assert s.execute(select(AnswerRow.value).where(AnswerRow.question_id == "shakai_hoken")).scalar_one() is False
    # a household answer that shows new member questions; focus stays on the answered question
    hw = panel.question_widget("koseki_todoke", "new-A")
    hw.setFocus()
    qtbot.waitUntil(hw.hasFocus)
    QTest.keyClick(hw, Qt.Key.Key_Down)
    idle(qtbot, panel)
    assert panel.question_widget("koseki_jiken", "new-1") is not None
    assert panel.question_widget("koseki_todoke", "new-A").hasFocus()
    # Tab goes from the answered question to the next one
    QTest.keyClick(panel.question_widget("koseki_todoke", "new-A"), Qt.Key.Key_Tab)
    assert not panel.question_widget("koseki_todoke", "new-A").hasFocus()
    go_to(qtbot, panel, "kokuho.shutoku", "new-1")
    shot(panel, screens, "procedure_panel")


def test_add_by_hand_through_the_picker(panel, qtbot, case, screens):
    go_to(qtbot, panel, "senkyo.annai", "new-1")
    seen = {}

    def use_picker():
        picker = panel.picker
        assert picker is not None and picker.search.hasFocus()  # type straight away
        QTest.keyClicks(picker.search, "inkan")
        shot(picker, screens, "procedure_picker")
        QTest.keyClicks(picker.search, ".tou")
        seen["count"] = picker.list.count()
        seen["subject"] = picker.subject.currentText()
        QTest.keyClick(picker.search, Qt.Key.Key_Return)

    QTimer.singleShot(200, use_picker)
    QTest.keyClick(panel.tree, Qt.Key.Key_Insert)
    idle(qtbot, panel)
    assert seen == {"count": 1, "subject": "札幌　一郎"}
    item = panel.item_for("inkan.touroku", "new-1")
    assert item is not None and item.text(COL_NAME) == "印鑑登録申請［個別］"
    assert item.text(COL_REASON) == "個別に追加"


def test_taken_over_case_refuses_the_answer_and_says_why(panel, qtbot, case):
    cases, c = case
    sato = Actor("sato", "佐藤　窓口", terminal="T07", counter_no="3", permissions=frozenset({"case.write"}))
    with cases.db.session() as s:
        s.add(Staff(login="sato", display_name="佐藤　窓口"))
        s.commit()
    CaseService(cases.db, sato).take_over(c.id)
    w = panel.question_widget("ninshin", "new-A")
    w.setFocus()
    qtbot.waitUntil(w.hasFocus)
    with qtbot.waitSignal(panel.failed, timeout=10000) as failed:
        QTest.keyClick(w, Qt.Key.Key_Down)
    assert "佐藤　窓口（端末T07）に引き継がれました" in failed.args[0]
    idle(qtbot, panel)
    assert panel.banner.isVisible() and "引き継がれました" in panel.banner.text()
    assert panel.question_widget("ninshin", "new-A").currentText() == "（未回答）"  # shows what is stored
    with cases.db.session() as s:
        assert s.execute(select(AnswerRow)).first() is None


def test_in_the_case_workspace_versions_stay_in_step(qtbot, fonts, any_db, screens):
    """The 手続き tab writes with the workspace's version; the workspace goes on saving afterwards."""
    from madoguchi.gui.case_view import CaseView
    from madoguchi.services.addresses import CityAddressBook, PostalBook

    spec = case_runner.load_case_file(Path(__file__).parents[1] / "e2e" / "cases" / "two_households.yaml")
    case_runner.seed_fixture(any_db, spec)
    case_runner.ensure_staff(any_db, TANAKA)
    cases = CaseService(any_db, TANAKA)
    c = cases.open_case(purpose="世帯変更")
    c, _ = cases.save_move(c.id, c.version, split_and_join(), TODAY)
    postal = PostalBook()
    v = CaseView(cases, c.id, city=CityAddressBook(any_db), postal=postal, today=TODAY)
    qtbot.addWidget(v)
    v.resize(1500, 820)
    show_active(qtbot, v)
    try:
        p = v.procedure_panel
        assert v.tabs.tabText(1) == "手続き(&J)" and p.listing is None  # not listed until shown
        v.tabs.setCurrentIndex(1)
        idle(qtbot, p)
        assert p.listing.rows and v.case.version == p.listing.case.version
        q = p.listing.questions[0]
        w = p.question_widget(q.question_id, q.subject)
        w.setFocus()
        QTest.keyClick(w, Qt.Key.Key_Down)
        idle(qtbot, p)
        assert v.case.version == p.listing.case.version
        v.memo_edit.setPlainText("手続き一覧を説明済み")
        v.add_memo()
        assert not v.banner.isVisible() and v.memo_edit.toPlainText() == ""
        kinds = [e.kind for e in cases.timeline(c.id)]
        assert kinds[-3:] == ["procedure", "answer", "memo"]
        idle(qtbot, p)  # the memo made a new version: listed again, nothing to store
        assert p.listing.case.version == v.case.version and not p.listing.saved
        assert p.listing.row("juki.setai_henko", "H002") is not None
        # the move changes in the workspace (the daughter no longer moves): the list follows
        move = split_and_join()
        move.members["100003"].moving = False
        move.after[0].placements.append(move.after[1].placements.pop())
        v._set_move(move)  # noqa: SLF001 - as the grid would after an edit
        v._move_edited("structure")  # noqa: SLF001
        v.flush()
        qtbot.waitUntil(lambda: p.listing.case.version == v.case.version and not p.busy, timeout=15000)
        assert p.listing.row("juki.setai_henko", "H002") is None
        shot(v, screens, "case_view_procedures_tab")
    finally:
        v.procedure_panel.wait_idle()
        postal.close()


MINI = {"mini.yaml": """
group: 試験
questions:
  - {id: inu_touroku_bi, text: 犬を登録した日, kind: date, about: household}
  - {id: inu_tousuu, text: 飼っている犬の頭数, kind: number, about: household}
  - {id: inu_mei, text: 犬の名前, kind: text, about: household}
procedures:
  - id: inu.touroku
    name: 犬の登録
    department: 環境課
    counter: 2階 環境課
    category: その他
    scope: household
    applies:
      - when: string(q.inu_tousuu) == "2"  # celpy: int == null raises, so no plain comparison
        reason: "犬を{q.inu_tousuu}頭飼っているため"
    questions: [inu_touroku_bi, inu_tousuu, inu_mei]
    guidance: {explain: [犬の登録を移します。]}
    documents: [鑑札]
    resident_text: 犬の登録をします。
    forms: [generic]
    tests:
      - name: 犬あり
        move: {type: move_in, date: 2025-05-01, members: {a: {birth: 1970-01-01}}}
        answers: {new-A: {inu_tousuu: 2}}
        listed: [new-A]
      - name: 犬なし
        move: {type: move_in, date: 2025-05-01, members: {a: {birth: 1970-01-01}}}
        listed: []
"""}


def test_date_number_and_text_answers_typed_and_tabbed(case, qtbot, fonts):
    from madoguchi.domain.procedures import parse_catalogue

    cases, c = case
    p = ProcedurePanel(ProcedureService(cases.db, TANAKA, catalogue=parse_catalogue(MINI)), c.id)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    show_active(qtbot, p)
    idle(qtbot, p)
    try:
        assert p.listing.rows == []
        day = p.question_widget("inu_touroku_bi", "new-A")
        day.setFocus()
        qtbot.waitUntil(day.hasFocus)
        QTest.keyClicks(day, "2025-05-01")
        QTest.keyClick(day, Qt.Key.Key_Tab)  # leaving the field answers it
        idle(qtbot, p)
        assert p.question_widget("inu_touroku_bi", "new-A").text() == "令和7年5月1日"
        count = p.question_widget("inu_tousuu", "new-A")
        assert count.hasFocus()  # Tab went on to the next question
        QTest.keyClicks(count, "two")
        QTest.keyClick(count, Qt.Key.Key_Tab)
        idle(qtbot, p)
        assert "数字（整数）を入力してください" in p.banner.text() and count.text() == ""
        count.setFocus()
        QTest.keyClicks(count, "2")
        QTest.keyClick(count, Qt.Key.Key_Tab)
        idle(qtbot, p)
        assert not p.banner.isVisible()
        row = p.listing.row("inu.touroku", "new-A")
        assert row is not None and row.reason_text == "犬を2頭飼っているため"
        name = p.question_widget("inu_mei", "new-A")
        QTest.keyClicks(name, "pochi")
        QTest.keyClick(name, Qt.Key.Key_Return)
        idle(qtbot, p)
        with cases.db.session() as s:
            stored = dict(s.execute(select(AnswerRow.question_id, AnswerRow.value)).all())
        assert stored == {"inu_touroku_bi": "2025-05-01", "inu_tousuu": 2, "inu_mei": "pochi"}
    finally:
        p.wait_idle()


def test_case_without_move_says_so(sqlite_db, qtbot, fonts):
    with sqlite_db.session() as s:
        s.add(Staff(login="tanaka", display_name="田中　窓口"))
        s.commit()
    c = CaseService(sqlite_db, TANAKA).open_case(purpose="証明書")
    p = ProcedurePanel(ProcedureService(sqlite_db, TANAKA), c.id)
    qtbot.addWidget(p)
    show_active(qtbot, p)
    idle(qtbot, p)
    try:
        assert p.tree.topLevelItem(0).text(COL_NAME).startswith("異動がまだ入力されていません")
        assert not p.add_button.isEnabled() and not p.remove_button.isEnabled()
        QTest.keyClick(p.tree, Qt.Key.Key_Insert)  # nothing to add to: no picker
        assert p.picker is None
    finally:
        p.wait_idle()
