"""The move grid and the address picker, driven from the keyboard like a clerk would."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog

sys.path.insert(0, str(Path(__file__).parents[1] / "cases"))
from move_samples import NEW_HOME, TODAY, move_in_family, split_and_join  # noqa: E402

from madoguchi.domain.moves import Level, MoveType  # noqa: E402
from madoguchi.gui.address_picker import AddressPicker  # noqa: E402
from madoguchi.gui.move_grid import MoveGrid  # noqa: E402
from madoguchi.gui.move_models import (COL_NAME, COL_REL, COL_STATE, LevelRole, HouseholdSideModel,  # noqa: E402
                                       MoveEditor)
from madoguchi.services import case_runner  # noqa: E402
from madoguchi.services.addresses import CityAddressBook, PostalBook  # noqa: E402

@pytest.fixture(autouse=True)
def _collect_qt_garbage(qapp):
    """Destroy this test's Qt objects while the application still exists, not at interpreter exit."""
    yield
    qapp.processEvents()
    gc.collect()


CASE_FIXTURE = Path(__file__).parents[1] / "e2e" / "cases" / "tennyu.yaml"


def show_active(qtbot, w) -> None:
    """Focus only works in the active window (offscreen too)."""
    w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)


def type_text(widget, text: str) -> None:
    """Type like a clerk: ASCII as key presses, Japanese as the IME commits it (QTest cannot key kanji)."""
    for ch in text:
        if ch.isascii():
            QTest.keyClicks(widget, ch)
        else:
            ev = QInputMethodEvent()
            ev.setCommitString(ch)
            QApplication.sendEvent(widget, ev)


def _before_only():
    m = split_and_join()
    m.after = []
    return m


@pytest.fixture
def grid(qtbot, fonts):
    editor = MoveEditor(_before_only(), TODAY)
    editor.start_after()
    asked = []

    def chooser(kind, current):
        asked.append(kind)
        return NEW_HOME

    g = MoveGrid(editor, choose_address=chooser)
    g.asked = asked
    qtbot.addWidget(g)
    g.resize(1280, 640)
    show_active(qtbot, g)
    return g


def test_models_pass_the_model_tester(qtmodeltester):
    editor = MoveEditor(split_and_join(), TODAY)
    for side in ("before", "after"):
        qtmodeltester.check(HouseholdSideModel(editor, side))


def test_header_rows_and_roles():
    editor = MoveEditor(split_and_join(), TODAY)
    after = HouseholdSideModel(editor, "after")
    assert after.header_rows() == [0, 3]
    assert after.index(0, COL_NAME).data() == "世帯 H001 ─ 深川市一条3番12号"
    r = after.row_of("100003")
    assert after.index(r, COL_NAME).data() == "　 深川　美咲"
    assert after.index(r, COL_REL).data() == "妻"
    assert after.index(r, COL_STATE).data() == "異動"
    assert after.index(after.row_of("200001"), COL_STATE).data() == "残る"
    before = HouseholdSideModel(editor, "before")
    assert before.index(before.row_of("100003"), COL_STATE).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked


def test_keyboard_moves_child_to_partner_and_sets_relationship(grid, qtbot, artifacts_dir):
    edits = []
    grid.edited.connect(edits.append)
    bv, av = grid.before_view, grid.after_view
    bv.setFocus()
    bv.select_member("100003")
    QTest.keyClick(bv, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)  # → H002 (next household)
    assert grid.editor.move.after[1].member_keys() == ["200001", "100003"]
    assert av.hasFocus() and av.selected_member() == "100003"
    r = grid.after_model.row_of("100003")
    assert grid.after_model.index(r, COL_REL).data() == "（未入力）"
    assert grid.after_model.index(r, COL_REL).data(LevelRole) == "error"
    assert "続柄" in grid.after_model.index(r, COL_REL).data(Qt.ItemDataRole.ToolTipRole)
    assert any("続柄" in grid.findings_list.item(i).text() for i in range(grid.findings_list.count()))
    grid.grab().save(str(artifacts_dir / "screens" / "move_grid_relationship_missing.png"))

    av.setCurrentIndex(grid.after_model.index(r, COL_REL))
    QTest.keyClick(av, Qt.Key.Key_F2)
    editor_widget = QApplication.focusWidget()
    type_text(editor_widget, "妻")
    QTest.keyClick(editor_widget, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: grid.editor.findings == [])
    assert grid.editor.move == split_and_join()
    assert grid.summary.text() == "入力に問題はありません。"
    assert edits and set(edits) == {"structure"}
    grid.grab().save(str(artifacts_dir / "screens" / "move_grid.png"))


def test_ctrl_left_right_stop_at_edges_and_ctrl_number(grid):
    av = grid.after_view
    av.setFocus()
    av.select_member("100003")
    QTest.keyClick(av, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)  # already first: stays
    assert grid.editor.move.household_after_of("100003").key == "H001"
    QTest.keyClick(av, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert grid.editor.move.household_after_of("100003").key == "H002"
    QTest.keyClick(av, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert grid.editor.move.household_after_of("100003").key == "H001"


def test_split_into_new_household_then_head_and_address(grid):
    av = grid.after_view
    av.setFocus()
    av.select_member("100003")
    QTest.keyClick(av, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    new = grid.editor.move.after[-1]
    assert new.key == "new-A" and new.placements[0].is_head and new.address == grid.editor.move.before[0].address
    # Enter on the household row opens the address picker for that household.
    av.select_household("new-A")
    QTest.keyClick(av, Qt.Key.Key_Return)
    assert grid.asked == ["household"] and grid.editor.move.after[-1].address == NEW_HOME
    # Ctrl+H on the wife makes her head of H001; the former head's 続柄 must be re-entered.
    av.select_member("100002")
    QTest.keyClick(av, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    h1 = grid.editor.move.after[0]
    assert [(p.member_key, p.relationship) for p in h1.placements] == [("100002", "世帯主"), ("100001", "")]
    errors = [f for f in grid.editor.findings if f.level is Level.ERROR]
    assert [(f.household, f.member) for f in errors] == [("H001", "100001")]


def test_drag_and_drop_between_households(grid):
    m = grid.after_model
    data = grid.before_model.mimeData([grid.before_model.index(grid.before_model.row_of("100003"), 0)])
    header_h002 = m.index(m.row_of_household("H002"), 0)
    assert m.dropMimeData(data, Qt.DropAction.MoveAction, -1, -1, header_h002)
    assert grid.editor.move.household_after_of("100003").key == "H002"
    # Dropped on empty space: a new household.
    assert m.dropMimeData(data, Qt.DropAction.MoveAction, -1, -1, QModelIndex())
    assert grid.editor.move.household_after_of("100003").key == "new-A"
    assert not grid.before_model.canDropMimeData(data, Qt.DropAction.MoveAction, -1, -1, QModelIndex())


def test_dates_typed_in_wareki_and_move_type(grid):
    grid.notified_on.setFocus()
    grid.notified_on.selectAll()
    QTest.keyClicks(grid.notified_on, "R8.11.26")
    QTest.keyClick(grid.notified_on, Qt.Key.Key_Tab)
    assert grid.editor.move.notified_on.isoformat() == "2026-11-26"
    assert any(f.field == "notified_on" and "未来" in f.message for f in grid.editor.findings)
    grid.move_date.setFocus()
    grid.move_date.selectAll()
    type_text(grid.move_date, "ばつ")
    QTest.keyClick(grid.move_date, Qt.Key.Key_Tab)
    assert "f8d0d0" in grid.move_date.styleSheet()
    assert grid.editor.move.move_date.isoformat() == "2026-11-20"  # the bad text changed nothing
    grid.type_combo.setCurrentIndex(grid.type_combo.findData(MoveType.MOVE_OUT.value))
    assert grid.editor.move.move_type is MoveType.MOVE_OUT
    assert grid.to_button.isVisible() and not grid.kind_combo.isVisible()


def test_move_in_newcomers_grid_screenshot(qtbot, artifacts_dir, fonts):
    move = move_in_family()
    move.after[0].placements[1].relationship = ""
    editor = MoveEditor(move, TODAY)
    g = MoveGrid(editor, choose_address=lambda k, c: None)
    qtbot.addWidget(g)
    g.resize(1280, 560)
    g.show()
    qtbot.waitExposed(g)
    assert g.from_label.text() == "北海道札幌市中央区北一条西2丁目1-1"
    assert g.btn_newcomer.isVisible()
    g.grab().save(str(artifacts_dir / "screens" / "move_grid_move_in.png"))


@pytest.fixture
def books(sqlite_db):
    case_runner.seed_fixture(sqlite_db, case_runner.load_case_file(CASE_FIXTURE))
    postal = PostalBook()
    yield CityAddressBook(sqlite_db), postal
    postal.close()


def test_picker_city_by_kana_keyboard_only(qtbot, books, artifacts_dir, fonts):
    city, postal = books
    p = AddressPicker(city, postal, mode="any")
    qtbot.addWidget(p)
    show_active(qtbot, p)
    edit = p.town_list.edit
    edit.setFocus()
    QTest.keyClicks(edit, "ni")  # romaji does not match anything
    assert p.town_list.labels() == []
    edit.clear()
    type_text(edit, "にじ")
    assert p.town_list.labels() == ["二条（ニジョウ）〒074-0002"]
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert p.banchi_list.edit.hasFocus() and p.banchi_list.labels() == ["5番1号", "7番3号"]
    QTest.keyClick(p.banchi_list.edit, Qt.Key.Key_Return)
    assert p.katagaki_list.labels() == ["（方書なし）", "コーポ二条 101", "コーポ二条 102"]
    QTest.keyClicks(p.katagaki_list.edit, "102")
    p.grab().save(str(artifacts_dir / "screens" / "address_picker_city.png"))
    with qtbot.waitSignal(p.accepted):
        QTest.keyClick(p.katagaki_list.edit, Qt.Key.Key_Return)
    assert p.address().line() == "北海道深川市二条5番1号　コーポ二条 102"
    assert p.address().town_code == "002"


def test_picker_city_arrow_keys_and_no_katagaki(qtbot, books):
    city, postal = books
    p = AddressPicker(city, postal, mode="city")
    qtbot.addWidget(p)
    show_active(qtbot, p)
    edit = p.town_list.edit
    edit.setFocus()
    type_text(edit, "い")  # 一条, 稲穂町
    QTest.keyClick(edit, Qt.Key.Key_Down)
    QTest.keyClick(edit, Qt.Key.Key_Return)
    assert p.banchi_list.labels() == ["1丁目2番3号"]
    with qtbot.waitSignal(p.accepted):
        QTest.keyClick(p.banchi_list.edit, Qt.Key.Key_Return)  # no 方書 known there: done
    assert p.address().line() == "北海道深川市稲穂町1丁目2番3号"


def test_picker_outside_by_postal_code_then_rest(qtbot, books, artifacts_dir, fonts):
    city, postal = books
    p = AddressPicker(city, postal, mode="any")
    qtbot.addWidget(p)
    show_active(qtbot, p)
    p.tabs.setCurrentWidget(p.outside_tab)
    p.postal_edit.setFocus()
    QTest.keyClicks(p.postal_edit, "1540024")
    assert p.rest_edit.hasFocus()
    assert "東京都世田谷区三軒茶屋" in p.preview.text()
    assert (p.pref_list.current_data(), p.city_list.current_data()) == ("東京都", "世田谷区")
    type_text(p.rest_edit, "1-2-3 三茶ハイツ 201")
    p.grab().save(str(artifacts_dir / "screens" / "address_picker_outside.png"))
    with qtbot.waitSignal(p.accepted):
        QTest.keyClick(p.rest_edit, Qt.Key.Key_Return)
    a = p.address()
    assert (a.prefecture, a.city, a.town_name, a.banchi, a.katagaki) == ("東京都", "世田谷区", "三軒茶屋", "1-2-3",
                                                                          "三茶ハイツ 201")


def test_picker_outside_by_lists_with_kana(qtbot, books):
    city, postal = books
    p = AddressPicker(city, postal, mode="outside")
    qtbot.addWidget(p)
    show_active(qtbot, p)
    type_text(p.pref_list.edit, "北海")
    QTest.keyClick(p.pref_list.edit, Qt.Key.Key_Return)
    assert p.city_list.edit.hasFocus()
    type_text(p.city_list.edit, "あさひかわ")
    assert p.city_list.labels() == ["旭川市"]
    QTest.keyClick(p.city_list.edit, Qt.Key.Key_Return)
    type_text(p.otown_list.edit, "かぐらおか5")
    assert p.otown_list.labels()[0].startswith("神楽岡５条")
    QTest.keyClick(p.otown_list.edit, Qt.Key.Key_Return)
    # Enter without the rest: refused with a Japanese message, dialog stays open.
    QTest.keyClick(p.rest_edit, Qt.Key.Key_Return)
    assert p.error.text() == "番地・建物名を入力してください。" and p.result() != QDialog.DialogCode.Accepted
    type_text(p.rest_edit, "5丁目1-1")
    QTest.keyClick(p.rest_edit, Qt.Key.Key_Return)
    assert p.address().line() == "北海道旭川市神楽岡５条5丁目1-1"


def test_picker_abroad(qtbot, books):
    city, postal = books
    p = AddressPicker(city, postal, mode="abroad")
    qtbot.addWidget(p)
    show_active(qtbot, p)
    type_text(p.country_edit, "カナダ")
    QTest.keyClick(p.country_edit, Qt.Key.Key_Return)
    assert p.address().line() == "国外（カナダ）"


def test_switching_to_move_out_takes_the_leavers_out_of_the_city_households():
    editor = MoveEditor(_before_only(), TODAY)
    editor.start_after()
    editor.set_move_type(MoveType.MOVE_OUT)
    assert editor.move.household_after_of("100003") is None
    assert editor.move.after[0].member_keys() == ["100001", "100002"]
    assert not any(f.member == "100003" for f in editor.findings)
    editor.set_move_type(MoveType.MOVE_WITHIN)
    assert editor.move.household_after_of("100003").key == "H001"
    # Ticking someone as staying on a move-out puts them back in their household.
    editor.set_move_type(MoveType.MOVE_OUT)
    editor.set_moving("100003", False)
    assert editor.move.household_after_of("100003").key == "H001"


def test_restricted_household_address_is_masked_on_the_before_side():
    move = split_and_join()
    move.members["100003"].restricted = True
    move.before[0].address = None  # what RLS leaves for a login without the right
    model = HouseholdSideModel(MoveEditor(move, TODAY), "before")
    assert model.index(0, COL_NAME).data() == "世帯 H001 ─ 支援措置対象（住所非表示）"
