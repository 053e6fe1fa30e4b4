"""「証明書」 tab: kinds picked by keyboard, copies and options, fee total, refusal banner, 交付請求書."""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox
from residents_seed import make_actor
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
from conftest import shot  # noqa: E402
from test_move_grid import show_active, type_text  # noqa: E402

from madoguchi.domain.certificates import RequesterType  # noqa: E402
from madoguchi.gui.certificate_panel import COL_FEE, COL_OPTIONS, CertificatePanel  # noqa: E402
from madoguchi.gui.printing import PrinterSetting, merge_pdfs  # noqa: E402
from madoguchi.services import identity  # noqa: E402
from madoguchi.services.cases import CaseService  # noqa: E402
from madoguchi.services.certificates import CertificateService  # noqa: E402
from madoguchi.store.models import AuditEvent, CaseEvent, CertificateRequestRow, OutputRow  # noqa: E402


@pytest.fixture
def cert_actor(seeded):
    _db, actor = make_actor(seeded, "cert_gui", ["clerk", "cert"])
    return actor


@pytest.fixture
def case(seeded, cert_actor):
    cases = CaseService(seeded, cert_actor)
    c = cases.open_case(purpose="証明書", subject_atena_no="1001", visitor={"name": "山田　太郎"})
    identity.record_identity_check(seeded, cert_actor, atena_no="1001", documents=["mynumber_card"],
                                   stated={"name": "山田太郎", "birth_date": date(1980, 12, 26)}, case_id=c.id)
    return cases, cases.get_case(c.id)


@pytest.fixture
def panel(seeded, cert_actor, case, qtbot, fonts):
    _cases, c = case
    p = CertificatePanel(CertificateService(seeded, cert_actor), c.id)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    show_active(qtbot, p)
    return p


def type_and_enter(qtbot, p: CertificatePanel, text: str) -> None:
    p.search.setFocus()
    qtbot.waitUntil(p.search.hasFocus)
    type_text(p.search, text)
    QTest.keyClick(p.search, Qt.Key.Key_Return)


def test_keyboard_kinds_copies_options_and_total(panel, qtbot, seeded, case, screens):
    cases, c = case
    assert panel.matches.count() == 60
    assert panel.identity_label.text() == "本人確認：済み"
    type_and_enter(qtbot, panel, "じゅうみんひょう")
    assert [x.kind.id for x in panel.lines] == ["juminhyo.zenbu"]
    assert panel.search.text() == "" and panel.search.hasFocus()  # ready for the next kind
    assert panel.total.text() == "合計 1件 1通　300円"
    # ↓ walks the matches: the second 住民票 kind is 住民票の写し（一部）
    type_text(panel.search, "住民票")
    QTest.keyClick(panel.search, Qt.Key.Key_Down)
    QTest.keyClick(panel.search, Qt.Key.Key_Return)
    type_and_enter(qtbot, panel, "しょとく")
    assert [x.kind.id for x in panel.lines] == ["juminhyo.zenbu", "juminhyo.ichibu", "zei.shotoku"]
    # copies typed into the spin box of the first line
    spin = panel.table.cellWidget(0, 2)
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin, "3")
    assert panel.lines[0].copies == 3
    assert panel.table.item(0, COL_FEE).text() == "900円"
    assert panel.total.text() == "合計 3件 5通　1,500円"
    # options of the first line: check boxes as the catalogue says; the 所得証明書 needs its 年度
    panel.table.setCurrentCell(0, 0)
    honseki = panel.option_widgets["honseki"]
    assert isinstance(honseki, QCheckBox) and "本籍" in honseki.text()
    honseki.setChecked(True)
    assert panel.table.item(0, COL_OPTIONS).text() == "本籍・筆頭者の記載"
    panel.table.setCurrentCell(2, 0)
    panel.purpose.setText("住宅ローンの申込み")
    assert not panel.submit()
    assert panel.banner.isVisible() and "「所得証明書」の年度を入力してください。" in panel.banner.text()
    type_text(panel.option_widgets["fiscal_year"], "令和7年度")
    # the second line is removed with Delete
    panel.table.setFocus()
    panel.table.setCurrentCell(1, 0)
    QTest.keyClick(panel.table, Qt.Key.Key_Delete)
    assert [x.kind.id for x in panel.lines] == ["juminhyo.zenbu", "zei.shotoku"]
    assert panel.total.text() == "合計 2件 4通　1,200円"
    qtbot.wait(50)  # the options' widgets are shown by a queued call
    shot(panel, screens, "certificate_panel_draft")
    QTest.keyClick(panel.purpose, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert not panel.banner.isVisible(), panel.banner.text()
    assert panel.lines == [] and "請求1を登録しました" in panel.status.text()
    assert panel.stored.topLevelItemCount() == 2 and "1,200円" in panel.stored_total.text()
    with seeded.session() as s:
        rows = s.scalars(select(CertificateRequestRow)).all()
    assert [(r.kind_id, r.copies, r.fee) for r in rows] == [("juminhyo.zenbu", 3, 900), ("zei.shotoku", 1, 300)]
    assert rows[0].options["honseki"] is True
    assert panel.case.version > c.version

    # 交付請求書: rendered, recorded as an output, "printed" through QPrinter into a PDF file
    shown = []
    panel.show_form = shown.append
    form = panel.print_form()
    assert form is not None and shown == [form]
    text = "".join(pg.extract_text() for pg in PdfReader(io.BytesIO(form.pdf)).pages).replace(" ", "")
    assert "住民票の写し（世帯全員）" in text and "1,200円" in text and "3通" in text
    panel._show_form(form)  # noqa: SLF001 - the real dialog
    dlg = panel.preview
    qtbot.addWidget(dlg)
    dlg.output_file = screens.parent / "certificate_panel_print.pdf"
    with qtbot.waitSignal(dlg.printed, timeout=30000) as sig:
        assert dlg.print_()
    assert sig.args == [True] and dlg.message.text() == "印刷しました。"
    assert dlg.output_file.stat().st_size > 1000
    with seeded.session() as s:
        out = s.scalars(select(OutputRow).where(OutputRow.case_id == c.id)).all()
    assert [(o.kind, o.state) for o in out] == [("koufu_seikyu", "printed")]
    assert [e.kind for e in cases.timeline(c.id)][-2:] == ["output", "output"]
    dlg.close()
    shot(panel, screens, "certificate_panel")


def test_protected_person_shows_the_refusal_banner(panel, qtbot, seeded, screens):
    # 山田秘子 (1006, 支援措置) is not in the household; her 宛名番号 is typed in by a third party.
    panel.set_requester_type(RequesterType.THIRD_PARTY)
    panel.requester_name.setText("債権者　株式会社")
    panel.third_reason.setText("債権回収")
    panel.purpose.setText("債権回収")
    type_and_enter(qtbot, panel, "住民票の写し（一部）")
    combo = panel.subject_combo(0)
    combo.lineEdit().selectAll()
    QTest.keyClicks(combo.lineEdit(), "1006")  # not of the household: typed as a 宛名番号
    assert panel.lines[0].subject == "1006"
    type_and_enter(qtbot, panel, "戸籍全部")
    assert panel.lines[1].subject == "1001"  # the household's first member by default
    panel.lines[1].options.update({"koseki_honseki": "深川市", "hittousha": "山田太郎"})
    assert panel.submit()
    assert panel.refusal.isVisible()
    assert panel.refusal.text().startswith("交付制限対象です（担当者確認）")
    assert "99番地" not in panel.refusal.text()
    # the stopped line stays on screen, the other was stored
    assert [x.kind.id for x in panel.lines] == ["juminhyo.ichibu"]
    assert panel.stored.topLevelItemCount() == 1
    with seeded.session() as s:
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "certificate.refused")).all()) == 1
    qtbot.wait(50)
    shot(panel, screens, "certificate_panel_refused")
    # again with only the stopped line: nothing stored, the banner stays
    assert not panel.submit()
    assert panel.refusal.isVisible() and panel.stored.topLevelItemCount() == 1
    with seeded.session() as s:
        assert len(s.scalars(select(CertificateRequestRow)).all()) == 1


def test_proxy_without_letter_and_cancel(panel, qtbot, seeded):
    panel.set_requester_type(RequesterType.PROXY)
    assert not panel.letter.isChecked() and panel.letter.isEnabled()
    assert "代理人の本人確認がまだです" in panel.identity_label.text()
    panel.requester_name.setText("代理　一郎")
    panel.purpose.setText("年金")
    type_and_enter(qtbot, panel, "いんかん")
    assert not panel.submit()
    assert "代理人による請求には委任状が必要です。" in panel.banner.text()
    assert len(panel.lines) == 1  # the draft stays
    panel.set_requester_type(RequesterType.SELF)
    assert panel.submit() and panel.stored.topLevelItemCount() == 1
    panel.stored.setCurrentItem(panel.stored.topLevelItem(0))
    panel.cancel_selected()
    assert panel.stored.topLevelItem(0).text(6) == "取消" and "0円" in panel.stored_total.text()
    assert not panel.print_button.isEnabled()
    # a cancelled request is not printed; the clerk is told in Japanese
    panel.show_form = lambda form: None
    assert panel.print_form() is None and "印刷する証明書の請求がありません" in panel.banner.text()


def test_tab_in_the_case_workspace(qtbot, fonts, seeded, cert_actor, case, screens):
    from madoguchi.gui.case_view import CaseView
    from madoguchi.services.addresses import CityAddressBook, PostalBook

    cases, c = case
    postal = PostalBook()
    v = CaseView(CaseService(seeded, cert_actor), c.id, city=CityAddressBook(seeded), postal=postal)
    qtbot.addWidget(v)
    v.resize(1500, 860)
    show_active(qtbot, v)
    try:
        p = v.certificate_panel
        idx = v.tabs.indexOf(p)
        assert v.tabs.tabText(idx) == "証明書(&C)"
        v.tabs.setCurrentIndex(idx)
        p.purpose.setText("勤務先へ提出")
        type_and_enter(qtbot, p, "じゅうみんひょう")
        assert p.submit()
        assert v.case.version == p.case.version  # the workspace adopted the new version
        v.memo_edit.setPlainText("住民票を交付")
        v.add_memo()
        assert not v.banner.isVisible()
        type_and_enter(qtbot, p, "いんかん")
        assert p.submit() and p.stored.topLevelItemCount() == 2
        qtbot.wait(50)
        shot(v, screens, "case_view_certificates_tab")
    finally:
        postal.close()
    # A clerk without the right gets no tab.
    _db, plain = make_actor(seeded, "clerk_nocert", ["clerk"])
    postal = PostalBook()
    try:
        v2 = CaseView(CaseService(seeded, plain), c.id, city=CityAddressBook(seeded), postal=postal)
        qtbot.addWidget(v2)
        assert v2.certificate_panel is None
    finally:
        postal.close()


# --- printing the 交付請求書 on the print worker ----------------------------------------------------


@pytest.fixture
def form_dialog(panel, qtbot):
    """The real 交付請求書 dialog of a registered request, shown and active."""
    panel.purpose.setText("勤務先へ提出")
    type_and_enter(qtbot, panel, "じゅうみんひょう")
    assert panel.submit()
    form = panel.print_form()  # opens the dialog
    assert form is not None
    dlg = panel.preview
    qtbot.addWidget(dlg)
    show_active(qtbot, dlg)
    dlg.setting = PrinterSetting(dpi=300)  # as at the counter: a heavy raster, seconds on a slow PC
    return dlg


def _print_events(seeded, case_id: int) -> list[str]:
    """The print outcomes recorded in the case's timeline (one per mark_printed / mark_failed)."""
    with seeded.session() as s:
        return [e.data["action"] for e in s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                                     .order_by(CaseEvent.id))
                if e.kind == "output" and (e.data or {}).get("action") in ("printed", "failed")]


def _output_row(seeded, dlg) -> OutputRow:
    with seeded.session() as s:
        return s.get(OutputRow, dlg.form.output_id)


def test_request_form_prints_on_the_worker_and_the_screen_keeps_running(form_dialog, qtbot, seeded, tmp_path,
                                                                       screens):
    dlg = form_dialog
    dlg.output_file = tmp_path / "交付請求書.pdf"
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(dlg.printing))
    timer.start()
    with qtbot.waitSignal(dlg.printed, timeout=60000) as sig:
        QTest.keyClick(dlg, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)  # 印刷(&P): an animated click
        qtbot.waitUntil(lambda: dlg.printing, timeout=2000)
        # the worker prints while the dialog's events go on; only 「中止」 works meanwhile
        assert dlg.progress.isVisible()
        assert dlg.cancel_button.isVisible() and dlg.cancel_button.isEnabled() and dlg.cancel_button.hasFocus()
        assert not any(b.isEnabled() for b in (dlg.print_button, dlg.save_button, dlg.close_button))
        assert not dlg.save() and not dlg.print_()  # nothing else starts while printing
        shot(dlg, screens, "certificate_form_printing")
    timer.stop()
    assert sig.args == [True], dlg.message.text()
    # The UI thread's timer fired while the print was under way (a print on the UI thread would block it:
    # no tick could see printing = True). How many ticks depends on the machine's speed.
    assert ticks.count(True) >= 1, ticks
    assert dlg.message.text() == "印刷しました。" and dlg.progress.value() == dlg.progress.maximum() == 1
    assert not dlg.printing and not dlg.cancel_button.isVisible() and not dlg.progress.isVisible()
    assert all(b.isEnabled() for b in (dlg.print_button, dlg.save_button, dlg.close_button))
    assert len(PdfReader(str(dlg.output_file)).pages) == 1
    row = _output_row(seeded, dlg)
    assert (row.kind, row.state) == ("koufu_seikyu", "printed")
    assert _print_events(seeded, dlg.panel.case_id) == ["printed"]  # recorded exactly once
    assert dlg.panel.case.version == dlg.panel._version()  # noqa: SLF001 - the panel adopted the new version


@pytest.mark.qt_log_ignore(r"QPainter::begin\(\): Returned false", "This plugin does not support propagateSizeHints")
def test_request_form_print_failure_is_shown_and_can_be_retried(form_dialog, qtbot, seeded, tmp_path, screens):
    dlg = form_dialog
    dlg.output_file = tmp_path / "存在しないフォルダ" / "交付請求書.pdf"  # QPrinter cannot open it
    with qtbot.waitSignal(dlg.printed, timeout=60000) as sig:
        dlg.print_button.click()
    assert sig.args == [False]
    text = dlg.message.text()
    assert text.startswith("印刷を開始できませんでした。") and "もう一度「印刷」を押すと印刷し直せます。" in text
    assert dlg.print_button.isEnabled() and dlg.print_button.hasFocus() and not dlg.cancel_button.isVisible()
    row = _output_row(seeded, dlg)
    assert row.state == "failed" and row.message.startswith("印刷を開始できませんでした")
    qtbot.wait(300)  # QPdfView renders the page asynchronously
    shot(dlg, screens, "certificate_form_print_failed")
    # retry (keyboard) into a folder that exists
    dlg.output_file = tmp_path / "交付請求書.pdf"
    with qtbot.waitSignal(dlg.printed, timeout=60000) as sig:
        QTest.keyClick(dlg, Qt.Key.Key_P, Qt.KeyboardModifier.AltModifier)
    assert sig.args == [True] and dlg.output_file.exists()
    assert _output_row(seeded, dlg).state == "printed"
    assert _print_events(seeded, dlg.panel.case_id) == ["failed", "printed"]


def test_request_form_esc_cancels_between_pages(panel, form_dialog, qtbot, seeded, tmp_path):
    from PySide6.QtPdfWidgets import QPdfView

    from madoguchi.gui.certificate_panel import RequestFormDialog

    # A form of several pages (the same sheet six times), so 「中止」 falls between two of them.
    dlg = RequestFormDialog(panel, replace(form_dialog.form, pdf=merge_pdfs([form_dialog.form.pdf] * 6)))
    form_dialog.close()
    qtbot.addWidget(dlg)
    show_active(qtbot, dlg)
    dlg.setting = PrinterSetting(dpi=300)
    dlg.output_file = tmp_path / "交付請求書.pdf"
    pressed = []

    def esc_once(value: int) -> None:
        if value > 0 and not pressed:  # the first page is out
            pressed.append(value)
            QTest.keyClick(dlg, Qt.Key.Key_Escape)

    dlg.progress.valueChanged.connect(esc_once)
    view = dlg.findChild(QPdfView)
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    with qtbot.waitSignal(dlg.printed, timeout=60000) as sig:
        QTest.keyClick(view, Qt.Key.Key_Return)  # 印刷 is the default button
        assert dlg.printing and dlg.progress.maximum() == 6  # print_() came back at once
    assert pressed and sig.args == [False]
    assert dlg.isVisible()  # Esc stopped the print, it did not close the dialog
    assert dlg.message.text().startswith("印刷を中止しました。")
    assert not dlg.output_file.exists()  # a half-written file is not a print
    row = _output_row(seeded, dlg)
    assert row.state == "failed" and row.message == "印刷を中止しました。"
    assert _print_events(seeded, dlg.panel.case_id) == ["failed"]
    # idle again: Esc closes the dialog as usual
    QTest.keyClick(dlg, Qt.Key.Key_Escape)
    assert not dlg.isVisible()
