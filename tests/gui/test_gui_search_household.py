"""Search and household screens driven by the keyboard, Qt models checked, screenshots saved."""

from __future__ import annotations

from datetime import date

from conftest import shot
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from residents_seed import seed_removed
from sqlalchemy import select, update

from madoguchi.gui.household_view import HouseholdView
from madoguchi.gui.main_window import MainWindow
from madoguchi.gui.models import MUTED, HouseholdModel, SearchResultModel
from madoguchi.gui.search_view import SearchView
from madoguchi.services import residents
from madoguchi.store.models import AuditEvent, PersonRow


def test_keyboard_search_opens_household(qtbot, fonts, seeded, clerk, demo_config, screens):
    win = MainWindow(seeded, clerk, demo_config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    view = win.search_view
    view.entry.insert("やまだ S55")  # as an IME commits it (QTest types ASCII only)
    qtbot.keyClick(view.entry, Qt.Key.Key_Return)
    assert view.model.rowCount() == 2
    assert "2件" in view.message.text()
    assert view.table.currentIndex().row() == 0
    shot(win, screens, "search")
    qtbot.keyClick(view.table, Qt.Key.Key_Down)
    assert view.table.currentIndex().row() == 1
    qtbot.keyClick(view.table, Qt.Key.Key_Up)
    with qtbot.waitSignal(view.householdRequested) as sig:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert sig.args == ["H100", "1001"]
    assert win.tabs.currentWidget() is win.household_view
    hv = win.household_view
    assert hv.model.rowCount() == 3
    assert "山田\u3000太郎" in hv.title.text() and "あけぼの町3番12号" in hv.address.text()
    shot(win, screens, "household")
    # removed persons are marked in the list
    qtbot.keyClick(win, Qt.Key.Key_F2)
    view.entry.setText("髙橋")
    qtbot.keyClick(view.entry, Qt.Key.Key_Return)
    assert view.model.index(0, 7).data() == "死亡"
    win.close()


def test_search_error_and_nothing_found(qtbot, fonts, seeded, clerk):
    view = SearchView(seeded, clerk)
    qtbot.addWidget(view)
    qtbot.keyClick(view.entry, Qt.Key.Key_Return)
    assert "検索する文字" in view.message.text()
    view.entry.setText("ンンン")
    qtbot.keyClick(view.entry, Qt.Key.Key_Return)
    assert "見つかりません" in view.message.text() and view.model.rowCount() == 0


def test_search_model_masks_restricted_and_passes_modeltester(qtmodeltester, seeded, clerk):
    model = SearchResultModel()
    model.set_hits(residents.search(seeded, clerk, "やまだ"))
    qtmodeltester.check(model)
    rows = {model.index(r, 8).data(): r for r in range(model.rowCount())}
    r = rows["1006"]
    assert model.index(r, 6).data() == "支援措置対象（住所非表示）"
    assert model.index(r, 7).data() == "要確認"
    assert model.index(r, 0).data(Qt.ItemDataRole.ToolTipRole) == "確認が必要です（担当者へ）"


def test_household_model_and_columns_saved_per_user(qtbot, qtmodeltester, fonts, seeded, clerk, shien):
    hv = HouseholdView(seeded, clerk)
    qtbot.addWidget(hv)
    hv.load("H100", "1003")
    qtmodeltester.check(hv.model)
    m = hv.model
    headers = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert headers[:6] == ["続柄", "氏名", "フリガナ", "生年月日", "年齢", "性別"]
    assert "国保" in headers and "児手" in headers
    assert hv.table.currentIndex().row() == 2          # the person searched for is selected
    child = [m.index(2, c).data() for c in range(m.columnCount())]
    assert child[0] == "子" and child[3] == "平成27年7月7日" and child[5] == "男"
    assert child[headers.index("国保")] == "●" and child[headers.index("児手")] == "●"
    assert child[headers.index("介護")] == ""
    # choose columns: saved for this staff member only
    hv.column_actions["jidou_teate"].setChecked(False)
    hv.column_actions["kodomo_iryou"].setChecked(True)
    assert residents.qualification_columns(seeded, clerk)[-1] == "kodomo_iryou"
    assert "jidou_teate" not in residents.qualification_columns(seeded, clerk)
    again = HouseholdView(seeded, clerk)
    qtbot.addWidget(again)
    assert "kodomo_iryou" in again.model.qualification_columns
    assert again.column_actions["kodomo_iryou"].isChecked()
    other = HouseholdView(seeded, shien)
    qtbot.addWidget(other)
    assert other.model.qualification_columns == list(residents.DEFAULT_QUALIFICATION_COLUMNS)
    qtmodeltester.check(HouseholdModel())


def test_every_person_view_is_audited(qtbot, seeded, clerk):
    hv = HouseholdView(seeded, clerk)
    qtbot.addWidget(hv)
    hv.load("H100")
    hv.load("H101")
    with seeded.session() as s:
        viewed = [e.object_id for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "person.view")
                                                .order_by(AuditEvent.id))]
    assert viewed == ["1001", "1002", "1003", "1004"]


def test_identity_tab_follows_household_selection(qtbot, fonts, seeded, clerk, demo_config, screens):
    win = MainWindow(seeded, clerk, demo_config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    iv = win.identity_view
    win.tabs.setCurrentWidget(iv)
    assert iv.panel is None and not iv.placeholder.isHidden()
    win.open_household("H100", "1002")
    win.tabs.setCurrentWidget(iv)
    assert iv.person.atena_no == "1002" and iv.panel is not None and iv.panel.isVisible()
    iv.panel.doc_boxes["mynumber_card"].setChecked(True)
    iv.panel.name.setText("山田　花子")
    iv.panel.birth.setText("昭和57年4月1日")
    with qtbot.waitSignal(iv.recorded) as sig:
        iv.panel.record_button.click()
    assert sig.args[0].outcome == "ok" and sig.args[0].atena_no == "1002"
    shot(win, screens, "identity_tab")
    win.close()


# --- removed persons (除票) ----------------------------------------------------------------------------

TODAY = date(2026, 11, 25)


def _viewed(db) -> list[str]:
    with db.session() as s:
        return [e.object_id for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "person.view")
                                                .order_by(AuditEvent.id))]


def test_household_model_lists_removed_persons_grey_with_status_and_date(qtmodeltester, seeded, clerk):
    seed_removed(seeded)
    m = HouseholdModel()
    m.set_qualification_columns(["kokuho", "kaigo"])
    view = residents.household(seeded, clerk, "H100", today=TODAY)
    m.set_members(view.shown, view.today)
    assert m.status_column == -1 and m.columnCount() == 8  # residents only: no 「状態」 column
    view = residents.household(seeded, clerk, "H106", today=TODAY, include_removed=True)
    m.set_members(view.shown, view.today)
    qtmodeltester.check(m)
    headers = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert headers == ["続柄", "氏名", "フリガナ", "生年月日", "年齢", "性別", "状態", "国保", "介護"]
    rows = [[m.index(r, c).data() for c in range(m.columnCount())] for r in range(m.rowCount())]
    assert [r[:2] + r[6:7] for r in rows] == [["世帯主", "北村\u3000剛", ""],
                                              ["父", "北村\u3000茂", "死亡（令和6年12月1日）"],
                                              ["妻", "北村\u3000静", "転出（令和7年6月30日）"]]
    assert m.index(2, 6).data(Qt.ItemDataRole.ToolTipRole) == "令和7年6月30日（2025-06-30）"
    # the father died at 84 (he would be 86 now); the wife who moved out is as old as she is
    assert (rows[1][4], m.index(1, 4).data(Qt.ItemDataRole.ToolTipRole)) == ("84歳", "死亡時の年齢")
    assert (rows[2][4], m.index(2, 4).data(Qt.ItemDataRole.ToolTipRole)) == ("38歳", None)
    # removed persons grey in every column, residents not
    assert all(m.index(r, c).data(Qt.ItemDataRole.ForegroundRole).color() == MUTED
               for r in (1, 2) for c in range(m.columnCount()))
    assert m.index(0, 1).data(Qt.ItemDataRole.ForegroundRole) is None
    # qualification columns still find their data behind the 「状態」 column
    assert m.headerData(7, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) == "国民健康保険"


def test_household_view_toggle_shows_removed_persons_audited_and_saved(qtbot, fonts, seeded, clerk, shien,
                                                                       screens):
    from test_move_grid import show_active

    seed_removed(seeded)
    hv = HouseholdView(seeded, clerk)
    qtbot.addWidget(hv)
    hv.resize(1100, 420)
    show_active(qtbot, hv)
    assert not hv.show_removed.isChecked()  # default off
    hv.load("H106")
    assert hv.model.rowCount() == 1 and hv.address.text() == "住所: 北海道深川市一条2番地"
    assert _viewed(seeded) == ["1010"]
    # keyboard: Tab from the list reaches the check box after the buttons; Alt+J toggles it
    assert hv.table.hasFocus()
    for _ in range(3 if hv.case_button.isVisible() else 2):
        QTest.keyClick(hv.focusWidget(), Qt.Key.Key_Tab)
    assert hv.show_removed.hasFocus()
    QTest.keyClick(hv, Qt.Key.Key_J, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(hv.show_removed.isChecked)  # a mnemonic clicks after a short animation
    assert hv.model.rowCount() == 3 and "1人（ほかに除票 2人）" in hv.title.text()
    assert hv.table.hasFocus()  # back in the list, ready for ↑↓
    assert sorted(_viewed(seeded)[1:]) == ["1010", "1011", "1012"]  # read again, the removed persons audited
    # the protected wife who moved out: masked exactly like a protected member
    assert hv.address.text() == "住所: 支援措置対象（住所非表示）" and hv.unmask_button.isHidden()
    hv.table.selectRow(2)
    assert hv.detail.text() == ("宛名番号 1011　状態 転出　消除日 令和7年6月30日　"
                                "支援措置対象（住所は理由を記録して表示）")
    assert "札幌" not in hv.detail.text() and "一条" not in hv.address.text()
    # a 消除事由 that says more than the status (職権消除) is shown; 「転出」 above was not repeated
    with seeded.engine.begin() as conn:
        conn.execute(update(PersonRow).where(PersonRow.atena_no == "1012").values(removal_reason="職権消除"))
    hv.load("H106", "1012")
    assert "状態 死亡　消除日 令和6年12月1日　消除事由 職権消除" in hv.detail.text()
    hv.load("H106", "1011")
    qtbot.wait(50)
    shot(hv, screens, "household_removed")
    # saved for this staff member: a new screen starts with the removed persons shown; others not
    assert residents.show_removed(seeded, clerk)
    again = HouseholdView(seeded, clerk)
    qtbot.addWidget(again)
    assert again.show_removed.isChecked()
    other = HouseholdView(seeded, shien)
    qtbot.addWidget(other)
    assert not other.show_removed.isChecked()
    # the 支援措置担当 sees the unmask button for the shown protected person, and it picks her
    other.show_removed.setChecked(True)
    other.load("H106", "1011")
    assert not other.unmask_button.isHidden()
    dlg = other.unmask()
    qtbot.addWidget(dlg)
    assert dlg.atena_no == "1011"
    dlg.close()
    # off again: back to the residents only, and the removed persons are not read (nor audited)
    before = len(_viewed(seeded))
    hv.show_removed.setChecked(False)
    assert hv.model.rowCount() == 1 and hv.model.status_column == -1 and hv.address.text().endswith("一条2番地")
    assert _viewed(seeded)[before:] == ["1010"]
    assert not residents.show_removed(seeded, clerk)
