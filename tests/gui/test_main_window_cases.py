"""From the household screen to a case with a move, by keyboard, in the real main window."""

from __future__ import annotations

from conftest import shot
from PySide6.QtCore import Qt

from madoguchi.gui.case_view import CaseView
from madoguchi.gui.main_window import MainWindow


def test_household_to_case_and_function_keys_belong_to_the_workspace(qtbot, fonts, seeded, clerk, demo_config,
                                                                      screens):
    win = MainWindow(seeded, clerk, demo_config)
    qtbot.addWidget(win)
    win.show()
    assert win.case_screens is not None
    assert any(win.tabs.tabText(i) == "対応一覧" for i in range(win.tabs.count()))
    win.search_view.entry.insert("やまだ S55")
    qtbot.keyClick(win.search_view.entry, Qt.Key.Key_Return)
    qtbot.keyClick(win.search_view.table, Qt.Key.Key_Return)
    assert win.tabs.currentWidget() is win.household_view
    assert win.household_view.case_button.isVisible()
    assert win.household_view.case_button.shortcut().toString() == "Alt+C"
    win.household_view.case_button.click()
    view = win.tabs.currentWidget()
    assert isinstance(view, CaseView)
    assert view.start_atena.text() == "1001" and view.case.subject_atena_no == "1001"
    assert view.start_type.currentData() == "move_within"
    shot(win, screens, "main_window_case_started")
    # In the workspace F2 is the grid's (続柄); the window's tab keys stand aside …
    assert not any(k.isEnabled() for k in win.tab_keys)
    assert [k.key().toString() for k in win.tab_keys] == ["F2", "F3", "F4"]
    # … and come back on the main tabs.
    win.tabs.setCurrentWidget(win.household_view)
    assert all(k.isEnabled() for k in win.tab_keys)
    # The 本人確認 tab now records onto this case.
    assert win.identity_view.case_id == view.case.id == win.household_view.case_id
    win.tabs.setCurrentWidget(win.identity_view)
    assert win.identity_view.panel is not None and win.identity_view._panel_case_id == view.case.id
    win.close()


def test_staff_without_case_right_gets_no_case_screens(qtbot, fonts, seeded, demo_config):
    from madoguchi.services.context import Actor
    auditor = Actor(login="kansa", display_name="監査 太郎", terminal="t", permissions=frozenset({"audit.read"}))
    win = MainWindow(seeded, auditor, demo_config)
    qtbot.addWidget(win)
    assert win.case_screens is None and not win.household_view.case_button.isVisibleTo(win)
    win.close()
