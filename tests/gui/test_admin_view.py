"""管理 tab: staff added with the keyboard, matrix toggled with Space, terminals, imports, audit log;
models checked with qtmodeltester; a screenshot of every sub-tab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import shiboken6
from conftest import shot
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QMessageBox
from residents_seed import make_actor
from sqlalchemy import select

from madoguchi.gui.admin_models import (AuditModel, ImportIssuesModel, ImportRunsModel, PermissionMatrixModel, PrintMappingModel,
                                        StaffModel, TerminalsModel)
from madoguchi.gui.admin_view import AdminView
from madoguchi.gui.main_window import MainWindow
from madoguchi.gui.printing import TRAYS, PrintSettings
from madoguchi.services import admin
from madoguchi.store.models import AuditEvent, ImportIssue, ImportRun


@pytest.fixture
def boss(seeded):
    """An administrator who is also in the audit group: every sub-tab is shown."""
    _db, actor = make_actor(seeded, "boss_gui", ["admin", "audit"])
    return actor


def actions(db, action: str) -> list[AuditEvent]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def make_view(qtbot, db, actor, **kw) -> AdminView:
    view = AdminView(db, actor, **kw)
    qtbot.addWidget(view)
    view.resize(1200, 720)
    with qtbot.waitActive(view):  # a context manager: shortcuts need the active window
        view.show()
        view.activateWindow()
    return view


def reactivate(qtbot, view: AdminView) -> None:
    """The offscreen platform does not hand activation back when a dialog closes; a desktop does."""
    with qtbot.waitActive(view):
        view.activateWindow()


def showing(page, name: str) -> bool:
    box = page.last_box  # a box over a dialog goes with the dialog
    return box is not None and shiboken6.isValid(box) and box.isVisible() and box.objectName() == name


def close_box(box: QMessageBox | None) -> str:
    assert box is not None and box.isVisible()
    text = box.text()
    box.done(QMessageBox.StandardButton.Ok)
    return text


def test_sub_tabs_follow_permissions(qtbot, seeded, clerk, boss):
    assert not AdminView.visible_for(clerk)
    assert AdminView.visible_for(boss)
    v1 = make_view(qtbot, seeded, boss)
    tabs = v1.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["職員", "権限", "端末", "取込履歴", "操作ログ"]
    _db, only_admin = make_actor(seeded, "admin_only", ["admin"])
    v2 = make_view(qtbot, seeded, only_admin)
    tabs = v2.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["職員", "権限", "端末", "取込履歴"]
    _db, auditor = make_actor(seeded, "auditor_only", ["audit"])
    v3 = make_view(qtbot, seeded, auditor)
    tabs = v3.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["権限", "取込履歴", "操作ログ"]  # matrix read-only


def test_main_window_shows_the_tab_only_to_admins_and_auditors(qtbot, seeded, clerk, boss, demo_config):
    win = MainWindow(seeded, boss, demo_config)
    qtbot.addWidget(win)
    titles = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert titles[-1] == "管理" and win.tabs.widget(win.tabs.count() - 1) is win.admin_view
    win.close()
    plain = MainWindow(seeded, clerk, demo_config)
    qtbot.addWidget(plain)
    assert plain.admin_view is None
    assert "管理" not in [plain.tabs.tabText(i) for i in range(plain.tabs.count())]
    plain.close()


def test_add_staff_with_the_keyboard(qtbot, fonts, seeded, boss, clerk, screens):
    view = make_view(qtbot, seeded, boss)
    page = view.staff_page
    assert view.tabs.currentWidget() is page and page.model.rowCount() == 2  # loaded when shown
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Insert)
    dialog = page.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.login)
    qtbot.keyClicks(dialog.login, "tanaka_h")
    qtbot.keyClick(dialog.login, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is dialog.name
    dialog.name.insert("田中　花子")  # as an IME commits it (QTest types ASCII only)
    qtbot.keyClick(dialog.name, Qt.Key.Key_Tab)
    qtbot.keyClicks(QApplication.focusWidget(), "hanako-2026")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is dialog.confirm
    qtbot.keyClicks(dialog.confirm, "hanako-2026")
    qtbot.keyClick(dialog.confirm, Qt.Key.Key_Tab)
    first = QApplication.focusWidget()
    assert first is dialog.groups.boxes["clerk"]
    qtbot.keyClick(first, Qt.Key.Key_Space)
    qtbot.keyClick(first, Qt.Key.Key_Tab)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)  # 証明発行 too
    assert dialog.groups.selected() == ["clerk", "cert"]
    shot(dialog, screens, "admin_staff_add_dialog")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert page.current().login == "tanaka_h" and page.current().groups == ("cert", "clerk")
    assert page.model.index(page.table.currentIndex().row(), 2).data() == "窓口職員・証明発行"
    assert [e.object_id for e in actions(seeded, "staff.add")][-1] == "tanaka_h"
    assert actions(seeded, "staff.add")[-1].actor == boss.login
    shot(view, screens, "admin_staff")

    # the same ID again: a Japanese message box, the dialog stays open for a correction
    reactivate(qtbot, view)
    assert QApplication.focusWidget() is page.table  # focus came back to the list
    old = dialog
    qtbot.keyClick(page.table, Qt.Key.Key_Insert)
    dialog = page.dialog
    assert dialog is not old and dialog.isVisible()
    dialog.login.setText("tanaka_h")
    dialog.name.setText("田中　花子")
    dialog.password.setText("hanako-2026")
    dialog.confirm.setText("hanako-2026")
    dialog.groups.boxes["clerk"].setChecked(True)
    qtbot.keyClick(dialog.login, Qt.Key.Key_Return)
    assert "既に登録されています" in close_box(page.last_box)
    assert dialog.isVisible()
    dialog.confirm.setText("different-1")
    qtbot.keyClick(dialog.login, Qt.Key.Key_Return)
    assert "一致しません" in close_box(page.last_box)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible())

    # disable (asks first), then enable again
    reactivate(qtbot, view)
    page.table.setFocus()
    page.table.selectRow(page.model.row_of("tanaka_h"))
    qtbot.keyClick(page.table, Qt.Key.Key_D, Qt.KeyboardModifier.AltModifier)  # the button's mnemonic
    qtbot.waitUntil(lambda: showing(page, "adminQuestion"))  # (an animated click)
    question = page.last_box
    assert "利用停止にしますか" in question.text()
    question.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: page.current() is not None and page.current().disabled)
    assert page.toggle_button.text().startswith("利用再開")
    page.toggle_button.click()
    assert not page.current().disabled
    # refusing to lock oneself out
    page.table.selectRow(page.model.row_of(boss.login))
    page.toggle_button.click()
    page.last_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: showing(page, "adminError"))
    assert "自分自身を利用停止" in close_box(page.last_box)

    # groups and password dialogs
    page.table.selectRow(page.model.row_of("tanaka_h"))
    dialog = page.open_groups()
    dialog.groups.boxes["cert"].setChecked(False)
    qtbot.keyClick(dialog.groups.boxes["clerk"], Qt.Key.Key_Return)
    assert page.current().groups == ("clerk",)
    dialog = page.open_password()
    dialog.password.setText("short")
    dialog.confirm.setText("short")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert "8文字以上" in close_box(page.last_box)
    dialog.password.setText("new-pass-2026")
    dialog.confirm.setText("new-pass-2026")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert "再設定しました" in close_box(page.last_box)
    done = [e.action for e in actions(seeded, "staff.password")]
    assert done == ["staff.password"]


def test_permission_matrix_with_space(qtbot, fonts, seeded, boss, screens):
    view = make_view(qtbot, seeded, boss)
    view.show_page(view.permissions_page)
    page = view.permissions_page
    table, model = page.table, page.model
    table.setFocus()
    table.setCurrentIndex(model.index_of("clerk", "certificate.issue"))
    assert model.index_of("clerk", "certificate.issue").data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    qtbot.keyClick(table, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: admin.permission_matrix(seeded, boss).has("clerk", "certificate.issue"))
    assert model.index_of("clerk", "certificate.issue").data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert actions(seeded, "permission.grant")[-1].object_id == "clerk"
    shot(view, screens, "admin_permissions")
    # the guard: refused in Japanese, the box is shown re-checked
    table.setCurrentIndex(model.index_of("admin", "admin.settings"))
    qtbot.keyClick(table, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: showing(page, "adminError"))
    assert "外せません" in close_box(page.last_box)
    assert model.index_of("admin", "admin.settings").data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    # without admin.settings (here: an auditor) the matrix is shown read-only
    _db, auditor = make_actor(seeded, "auditor", ["audit"])
    ro_view = make_view(qtbot, seeded, auditor)
    ro = ro_view.permissions_page
    ro_view.show_page(ro)
    assert ro is not None and ro.model.rowCount() and not ro.model.editable
    ro.table.setCurrentIndex(ro.model.index_of("clerk", "audit.read"))
    qtbot.keyClick(ro.table, Qt.Key.Key_Space)
    assert not admin.permission_matrix(seeded, boss).has("clerk", "audit.read")
    assert "閲覧のみ" in ro.note.text()


def test_terminal_settings_and_printer_mapping(qtbot, fonts, seeded, boss, screens):
    view = make_view(qtbot, seeded, boss, printers=["窓口プリンタ（1F）", "帳票プリンタ"])
    view.show_page(view.terminals_page)
    page = view.terminals_page
    assert page.model.rowCount() == 0
    page.name.setFocus()
    qtbot.keyClicks(page.name, "PC-03")
    qtbot.keyClick(page.name, Qt.Key.Key_Tab)
    qtbot.keyClicks(page.counter_no, "3")
    page.description.setText("市民課 3番窓口（転入・転出）")
    m, t = page.mapping, page.mapping_table
    # default row: the 1F printer, via the keyboard and the combo editor
    t.setFocus()
    t.setCurrentIndex(m.index(0, 1))
    qtbot.keyClick(t, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QComboBox) and editor.isEditable()
    assert [editor.itemText(i) for i in range(editor.count())] == [
        "（このPCの通常使うプリンタ）", "窓口プリンタ（1F）", "帳票プリンタ"]
    qtbot.keyClick(editor, Qt.Key.Key_Down)
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits from the event loop
    qtbot.waitUntil(lambda: m.settings()["default"] == {"printer": "窓口プリンタ（1F）"})
    # 住民異動届: its own printer, lower tray, long-edge duplex, 2 copies
    row = next(r for r in range(m.rowCount()) if m.kind(r) == "juki_idou")
    assert m.index(row, 1).data() == "（既定と同じ）"
    t.setCurrentIndex(m.index(row, 3))
    qtbot.keyClick(t, Qt.Key.Key_F2)
    editor = QApplication.focusWidget()
    assert isinstance(editor, QComboBox) and not editor.isEditable()
    editor.setCurrentIndex(editor.findData("long"))
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: m.settings()["forms"].get("juki_idou", {}).get("duplex") == "long")
    assert m.setData(m.index(row, 1), "帳票プリンタ", Qt.ItemDataRole.EditRole)
    assert m.setData(m.index(row, 2), "Lower", Qt.ItemDataRole.EditRole)
    assert m.setData(m.index(row, 4), 2, Qt.ItemDataRole.EditRole)
    assert not m.setData(m.index(row, 4), 0, Qt.ItemDataRole.EditRole)
    assert m.index(row, 2).data() == "下段" and m.index(row, 3).data() == "両面（長辺とじ）"
    qtbot.keyClick(page.name, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert "保存しました" in close_box(page.last_box)
    saved = admin.list_terminals(seeded, boss)[0]
    assert (saved.name, saved.counter_no) == ("PC-03", "3")
    settings = PrintSettings.from_mapping(saved.print_settings)  # the printing adapter reads it as saved
    assert settings.for_form("juki_idou").printer == "帳票プリンタ"
    assert settings.for_form("juki_idou").copies == 2 and settings.for_form("juki_idou").tray == "Lower"
    assert settings.for_form("guide").printer == "窓口プリンタ（1F）"
    assert page.name.isReadOnly() and page.table.currentIndex().row() == 0
    shot(view, screens, "admin_terminals")
    # a second registration under the same name is refused
    page.new_terminal()
    page.name.setText("PC-03")
    page.save_button.click()
    assert "既に登録されています" in close_box(page.last_box)
    # back to "follow the default" drops the form's own entry
    page.table.selectRow(0)
    assert m.setData(m.index(row, 1), m.FOLLOW, Qt.ItemDataRole.EditRole)
    assert "juki_idou" not in m.settings()["forms"]
    page.save_button.click()
    close_box(page.last_box)
    assert [e.action for e in actions(seeded, "terminal.edit")] == ["terminal.edit"]
    page.delete_button.click()
    page.last_box.button(QMessageBox.StandardButton.Yes).click()
    assert admin.list_terminals(seeded, boss) == []


def seed_runs(db) -> None:
    t0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
    with db.session() as s:
        s.add(ImportRun(kind="full", export_id="FKG-20261124", actor="madoguchi_import", started_at=t0,
                        finished_at=t0 + timedelta(minutes=3), outcome="ok", quarantined=2,
                        message="取込が完了しました（転入等 12 人、住所変更 4 人）。",
                        counts={"persons": {"file": "JUMIN.csv", "rows": 26000, "loaded": 25998, "quarantined": 2}}))
        s.add(ImportRun(kind="full", export_id="FKG-20261125", actor="madoguchi_import",
                        started_at=t0 + timedelta(days=1), finished_at=t0 + timedelta(days=1, minutes=1),
                        outcome="failed", message="manifest.json がありません。基幹系の出力を確認してください。"))
        s.flush()
        ok_run = s.scalar(select(ImportRun.id).where(ImportRun.export_id == "FKG-20261124"))
        s.add_all([ImportIssue(run_id=ok_run, file="JUMIN.csv", line=1207, column="生年月日",
                               reason="日付「2026-13-01」が正しくありません", raw="000000001207,髙橋　𠮷男,2026-13-01"),
                   ImportIssue(run_id=ok_run, file="JUMIN.csv", line=88, column="", reason="列の数が 41 です（42 のはず）",
                               raw="000000000088,…")])
        s.commit()


def test_import_history(qtbot, fonts, seeded, boss, screens):
    seed_runs(seeded)
    view = make_view(qtbot, seeded, boss)
    view.show_page(view.imports_page)
    page = view.imports_page
    assert page.model.rowCount() == 2
    assert page.model.index(0, 3).data() == "失敗" and page.model.index(1, 4).data() == "26,000"
    assert "manifest.json がありません" in page.detail.toPlainText()
    assert page.summary.text().startswith("最新の取込: 2026-11-25 06:00:00")
    assert page.issues.rowCount() == 0 and "ありません" in page.issues_label.text()
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Down)
    assert page.issues_label.text() == "除外・保留された行: 2 件"
    assert [page.issues.index(r, 1).data() for r in range(2)] == ["88", "1207"]
    assert page.issues.index(1, 4).data() == "000000001207,髙橋　𠮷男,2026-13-01"
    shot(view, screens, "admin_imports")
    with seeded.session() as s:  # a new run while the screen is open: F5 reads it
        s.add(ImportRun(kind="full", export_id="FKG-20261126", actor="madoguchi_import",
                        started_at=datetime(2026, 11, 25, 21, 0, tzinfo=UTC), outcome="running"))
        s.commit()
    qtbot.keyClick(page.table, Qt.Key.Key_F5)
    assert page.model.rowCount() == 3 and page.model.index(0, 3).data() == "実行中"


def test_audit_log_search_paging_and_verify(qtbot, fonts, seeded, boss, screens, tmp_path):
    for i in range(3):
        admin.save_terminal(seeded, boss, admin.TerminalInfo(f"PC-{i}"), new=True)
    view = make_view(qtbot, seeded, boss)
    view.show_page(view.audit_page)
    page = view.audit_page
    assert page.model.rowCount() == 0 and actions(seeded, "audit.search") == []  # nothing read unasked
    page.actor_edit.setFocus()
    qtbot.keyClicks(page.actor_edit, boss.login)
    qtbot.keyClick(page.actor_edit, Qt.Key.Key_Return)
    assert page.result.total == 4  # login + 3 terminals
    assert page.model.index(0, 3).data() == "端末の登録" and page.model.index(3, 3).data() == "ログイン"
    assert "PC-2" in page.detail.toPlainText()
    shot(view, screens, "admin_audit")
    page.PAGE_SIZE = 2
    page.action.setCurrentIndex(page.action.findData("terminal."))
    page.search(0)
    assert page.range.text() == "全 3 件中 1–2 件（1/2 ページ）"
    qtbot.keyClick(page.table, Qt.Key.Key_PageDown)
    assert page.range.text() == "全 3 件中 3–3 件（2/2 ページ）" and not page.next_button.isEnabled()
    assert page.model.index(0, 5).data() == "PC-0"
    qtbot.keyClick(page.table, Qt.Key.Key_PageUp)
    assert page.page_no == 0 and page.model.index(0, 5).data() == "PC-2"
    admin.save_terminal(seeded, boss, admin.TerminalInfo("PC-3"), new=True)
    qtbot.keyClick(page.table, Qt.Key.Key_F5)  # the same search again
    assert page.range.text() == "全 4 件中 1–2 件（1/2 ページ）" and page.model.index(0, 5).data() == "PC-3"
    page.action.setCurrentIndex(page.action.findData("staff."))
    page.search_button.click()
    assert page.result.total == 0 and page.range.text() == "該当する操作ログはありません。"
    page.date_from.setDate(page.date_to.date().addDays(1))
    page.search_button.click()
    assert "開始日が終了日より後" in close_box(page.last_box)
    page.verify_button.click()
    assert "改ざん・欠落は見つかりませんでした" in close_box(page.last_box)
    page.date_from.setDate(page.date_to.date())
    page.action.setCurrentIndex(page.action.findData("terminal."))
    target = tmp_path / "操作ログ.csv"
    page.export_to(target)
    assert "4 件" in close_box(page.last_box)
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "端末の登録" in raw.decode("utf-8-sig")
    page.export_to(tmp_path / "no-such-dir" / "x.csv")
    assert "書き出せませんでした" in close_box(page.last_box)
    searches = actions(seeded, "audit.search")
    assert len(searches) == 6 and {e.actor for e in searches} == {boss.login}
    assert actions(seeded, "audit.verify")[-1].actor == boss.login


def test_models_pass_modeltester(qtmodeltester, seeded, boss):
    seed_runs(seeded)
    admin.save_terminal(seeded, boss, admin.TerminalInfo(
        "PC-01", "1", "", {"default": {"printer": "P1"}, "forms": {"juki_idou": {"copies": 2}}}), new=True)
    staff = StaffModel()
    staff.set_rows(admin.list_staff(seeded, boss))
    qtmodeltester.check(staff)
    matrix = PermissionMatrixModel()
    matrix.set_matrix(admin.permission_matrix(seeded, boss), editable=True)
    qtmodeltester.check(matrix)
    assert matrix.headerData(0, Qt.Orientation.Vertical) == "宛名の閲覧"
    assert matrix.headerData(0, Qt.Orientation.Horizontal) == "窓口職員"
    terminals = TerminalsModel()
    terminals.set_rows(admin.list_terminals(seeded, boss))
    qtmodeltester.check(terminals)
    assert terminals.index(0, 2).data() == "1 件"
    mapping = PrintMappingModel(admin.form_kinds(), ["P1", "P2"], TRAYS)
    mapping.set_settings(admin.list_terminals(seeded, boss)[0].print_settings)
    qtmodeltester.check(mapping)
    assert mapping.index(0, 1).data() == "P1"
    runs = ImportRunsModel()
    runs.set_rows(admin.recent_import_runs(seeded, boss))
    qtmodeltester.check(runs)
    issues = ImportIssuesModel()
    first = admin.recent_import_runs(seeded, boss)[-1].id
    issues.set_rows(admin.import_issues(seeded, boss, first)[0])
    qtmodeltester.check(issues)
    assert issues.rowCount() == 2
    log = AuditModel()
    log.set_rows(admin.search_audit(seeded, boss, admin.AuditQuery()).entries)
    qtmodeltester.check(log)
    assert log.rowCount() >= 2


@pytest.mark.pg
def test_on_postgresql_roles_do_the_work(qtbot, pg_staff):
    """The same screens against real roles: the admin's own login creates a role; the auditor reads the log."""
    from residents_seed import drop_test_roles
    base, make = pg_staff
    adb, adm = make("adm", ["admin"])
    udb, auditor = make("aud", ["audit"])
    new_login = f"{adm.login}_n"
    try:
        view = make_view(qtbot, adb, adm)
        page = view.staff_page
        dialog = page.open_add()
        dialog.login.setText(new_login)
        dialog.name.setText("髙橋　𠮷子")  # outside JIS X 0208, kept as typed
        dialog.password.setText("pg-pass-2026")
        dialog.confirm.setText("pg-pass-2026")
        dialog.groups.boxes["shien"].setChecked(True)
        qtbot.keyClick(dialog.login, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: not dialog.isVisible())
        assert page.current().login == new_login and page.current().display_name == "髙橋　𠮷子"
        with base.session() as s:
            from sqlalchemy import text
            assert s.execute(text("SELECT pg_has_role(:r, 'madoguchi_shien', 'MEMBER')"), {"r": new_login}).scalar()
        assert view.audit_page is None  # the admin group does not read the log
        log_view = make_view(qtbot, udb, auditor)
        log_view.show_page(log_view.audit_page)
        audit_page = log_view.audit_page
        audit_page.object_id.setText(new_login)
        audit_page.search_button.click()
        assert [(e.action, e.actor) for e in audit_page.result.entries] == [("staff.add", adm.login)]
        audit_page.verify_button.click()
        assert "改ざん・欠落は見つかりませんでした" in close_box(audit_page.last_box)
    finally:
        drop_test_roles([new_login])
