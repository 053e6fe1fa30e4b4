"""本人確認 and 住所表示 dialogs, the notices board (polling and NOTIFY), screenshots."""

from __future__ import annotations

from conftest import shot
from PySide6.QtGui import QColor
from residents_seed import seed
from sqlalchemy import select

from madoguchi.gui.household_view import HouseholdView
from madoguchi.gui.identity_dialog import NG_BG, IdentityDialog
from madoguchi.gui.main_window import MainWindow
from madoguchi.gui.models import NoticesModel
from madoguchi.gui.notices_view import NoticesView
from madoguchi.gui.unmask_dialog import UnmaskDialog
from madoguchi.services import notices, residents
from madoguchi.store.models import AuditEvent, IdentityCheckRow


def test_identity_dialog_sufficiency_and_differences(qtbot, fonts, seeded, clerk, screens):
    person = residents.person_detail(seeded, clerk, "1001")
    dlg = IdentityDialog(seeded, clerk, person)
    qtbot.addWidget(dlg)
    assert "選ばれていません" in dlg.sufficiency_label.text()
    dlg.doc_boxes["kenko_hoken"].setChecked(True)
    assert "もう1点必要" in dlg.sufficiency_label.text()
    dlg.doc_boxes["nenkin_techo"].setChecked(True)
    assert dlg.sufficiency_label.text().startswith("✔")
    dlg.name.setText("山田太郎")
    dlg.kana.setText("やまだ たろう")
    dlg.birth.setText("S55.12.27")
    dlg.address.setText("あけぼの町3番21号")
    rows = {dlg.table.item(r, 0).text(): r for r in range(dlg.table.rowCount())}
    assert dlg.table.item(rows["氏名"], 3).text() == "一致"
    assert dlg.table.item(rows["フリガナ"], 3).text() == "一致"
    assert dlg.table.item(rows["生年月日"], 3).text() == "相違"
    assert dlg.table.item(rows["生年月日"], 2).text() == "昭和55年12月26日"
    assert dlg.table.item(rows["住所"], 1).background().color() == QColor(NG_BG)
    assert dlg.outcome_label.text() == "判定: 相違あり"
    dlg.show()
    shot(dlg, screens, "identity_dialog")
    dlg.record()
    assert "記録しました（相違あり）" in dlg.outcome_label.text()
    # a proxy gets their own check
    dlg.subject_proxy.setChecked(True)
    for cb in dlg.doc_boxes.values():
        cb.setChecked(False)
    dlg.doc_boxes["driver_license"].setChecked(True)
    dlg.name.setText("鈴木　一郎")
    dlg.birth.setText("1970-01-01")
    dlg.address.setText("札幌市中央区北1条西2丁目")
    assert dlg.table.rowCount() == 0 and dlg.outcome_label.text() == "判定: 確認済み"
    dlg.record()
    with seeded.session() as s:
        checks = s.scalars(select(IdentityCheckRow).order_by(IdentityCheckRow.id)).all()
    assert [(c.subject, c.atena_no, c.result) for c in checks] == [("visitor", "1001", "mismatch"),
                                                                   ("proxy", None, "ok")]
    assert checks[1].stated["for_atena_no"] == "1001"


def test_unmask_dialog_needs_reason_and_is_audited(qtbot, fonts, seeded, shien, screens):
    hv = HouseholdView(seeded, shien)
    qtbot.addWidget(hv)
    hv.load("H103")
    assert "支援措置対象（住所非表示）" in hv.address.text() and not hv.unmask_button.isHidden()
    hv.resize(1000, 400)
    shot(hv, screens, "household_restricted")
    dlg = hv.unmask()
    qtbot.addWidget(dlg)
    dlg.unmask()
    assert "理由を入力" in dlg.result_label.text() and dlg.address is None
    dlg.reason.setPlainText("本人が来庁し住所の確認を申し出たため")
    dlg.unmask()
    assert "広里町99番地" in dlg.result_label.text()
    shot(dlg, screens, "unmask_dialog")
    with seeded.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "person.unmask")).all()
    assert len(ev) == 1 and "申し出たため" in ev[0].detail and ev[0].actor == shien.login


def test_unmask_button_hidden_for_clerk(qtbot, seeded, clerk):
    hv = HouseholdView(seeded, clerk)
    qtbot.addWidget(hv)
    hv.load("H103")
    assert hv.unmask_button.isHidden() and hv.view.masked
    dlg = UnmaskDialog(seeded, clerk, "1006", "山田　秘子")
    qtbot.addWidget(dlg)
    dlg.reason.setPlainText("理由")
    dlg.unmask()
    assert "権限が必要" in dlg.result_label.text() and dlg.address is None


def test_notices_view_post_read_and_poll(qtbot, qtmodeltester, fonts, seeded, clerk, shien, demo_config,
                                         screens):
    win = MainWindow(seeded, clerk, demo_config, notice_poll_ms=100)
    qtbot.addWidget(win)
    nv = win.notices_view
    nv.new_title.setText("戸籍システム 14時から停止")
    nv.new_body.setPlainText("14:00〜15:00 は戸籍照会ができません。𠮷田さんの件は午後に。")
    nv.new_priority.setCurrentIndex(0)
    nv.post()
    assert nv.post_message.text() == "投稿しました。"
    nv.post()
    assert "件名" in nv.post_message.text()
    notices.post(seeded, shien,
                 "窓口2番 プリンタ修理中", priority="low")
    qtbot.waitUntil(lambda: nv.model.rowCount() == 2, timeout=3000)   # arrives by polling
    assert win.tabs.tabText(win.tabs.indexOf(nv)) == "お知らせ（未読 2）"
    qtmodeltester.check(nv.model)
    assert nv.model.index(0, 0).data() == "至急"
    nv.table.selectRow(0)
    qtbot.waitUntil(lambda: win.tabs.tabText(win.tabs.indexOf(nv)) == "お知らせ（未読 1）", timeout=3000)
    assert "14:00〜15:00" in nv.body.toPlainText()
    assert "既読 1人" in nv.receipts.text()
    win.tabs.setCurrentWidget(nv)
    win.show()
    qtbot.waitExposed(win)
    shot(win, screens, "notices")
    win.close()
    qtmodeltester.check(NoticesModel())


def test_notices_arrive_by_notify_in_postgresql(qtbot, pg_staff):
    base, make = pg_staff
    seed(base)
    db1, clerk1 = make("clerk", ["clerk"])
    db2, clerk2 = make("clerk", ["clerk"])
    nv = NoticesView(db1, clerk1, poll_ms=600_000)   # polling far too slow to explain the refresh
    qtbot.addWidget(nv)
    assert nv.watcher.thread is not None
    qtbot.waitUntil(lambda: nv.watcher.thread.isRunning(), timeout=3000)
    qtbot.wait(500)  # let LISTEN register
    with qtbot.waitSignal(nv.watcher.changed, timeout=5000):
        notices.post(db2, clerk2, "NOTIFY で届くお知らせ")
    qtbot.waitUntil(lambda: nv.model.rowCount() == 1, timeout=3000)
    nv.shutdown()
