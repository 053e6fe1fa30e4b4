"""「出力・印刷」 panel (pytest-qt, offscreen): preview pages, print through QPrinter into PDF files,
a failed print shown in Japanese and retried, save as PDF, the case workspace tab."""

from __future__ import annotations

import gc
import io
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "services"))
from conftest import shot  # noqa: E402
from test_move_grid import show_active  # noqa: E402
from test_outputs_service import CLERK, FIXTURE, SUPPORT, TODAY, _open_move, _text  # noqa: E402

from madoguchi.gui.output_preview import OutputPreview  # noqa: E402
from madoguchi.gui.printing import PrinterSetting, PrintSettings, page_images  # noqa: E402
from madoguchi.services import case_runner  # noqa: E402
from madoguchi.services.outputs import OutputService  # noqa: E402
from madoguchi.store.models import OutputRow  # noqa: E402

# A household of nine: the 住民異動届 lists six per sheet, so it takes two pages.
BIG = [{"atena_no": f"70000{i}", "household": "H700", "relationship": "世帯主" if i == 1 else "子",
        "name": f"𠮷田　{n}", "kana": f"ヨシダ　{k}", "birth": f"{1960 + i * 3}-04-0{i}", "sex": "1",
        "address": {"town_code": "021", "banchi": "1丁目2番3号", "postal_code": "0740021"}}
       for i, (n, k) in enumerate([("一", "イチ"), ("二", "ニ"), ("三", "サン"), ("四", "シ"), ("五", "ゴ"),
                                    ("六", "ロク"), ("七", "ナナ"), ("八", "ハチ"), ("九", "キュウ")], start=1)]
SETTINGS = PrintSettings(PrinterSetting(dpi=100), {"guide": PrinterSetting(dpi=100, copies=1, duplex="long")})


@pytest.fixture(autouse=True)
def _collect_qt_garbage(qapp):
    yield
    qapp.processEvents()
    gc.collect()


@pytest.fixture
def db(sqlite_db):
    case_runner.seed_fixture(sqlite_db, {**FIXTURE, "residents": FIXTURE["residents"] + BIG})
    case_runner.ensure_staff(sqlite_db, CLERK)
    return sqlite_db


@pytest.fixture
def panel(db, qtbot, fonts):
    case = _open_move(db, [r["atena_no"] for r in BIG], "H700", "7番3号")
    p = OutputPreview(OutputService(db, CLERK, today=TODAY), case.id, print_settings=SETTINGS)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    show_active(qtbot, p)  # showing it renders the outputs (on the worker thread)
    qtbot.waitUntil(lambda: bool(p.documents) and not p.busy, timeout=20000)
    yield p
    p.wait_idle()


def _ink_grid(pdf: bytes, page: int = 0, cols: int = 21, rows: int = 30) -> list[float]:
    """How much ink (darkness) each cell of a grid over the page holds (rendered at 40 dpi)."""
    img = page_images(pdf, dpi=40)[page]
    cw, ch = img.width() / cols, img.height() / rows
    grid = [0.0] * (cols * rows)
    for y in range(img.height()):
        for x in range(img.width()):
            grid[min(int(y / ch), rows - 1) * cols + min(int(x / cw), cols - 1)] += 255 - img.pixelColor(x, y).value()
    return grid


def _similar(printed: bytes, source: bytes) -> float:
    """Correlation of where the ink is on the first page of the printed file and of a source PDF."""
    a, b = _ink_grid(printed), _ink_grid(source)
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    va = sum((x - ma) ** 2 for x in a) ** 0.5
    vb = sum((y - mb) ** 2 for y in b) ** 0.5
    return cov / (va * vb)


def test_preview_pages_keyboard_and_print_to_pdf(panel, qtbot, tmp_path, screens):
    p = panel
    assert p.list.count() == len(p.documents) >= 3
    assert p.list.item(0).text().startswith("［申請書］住民異動届（2ページ）")
    assert all(p.list.item(i).checkState() == Qt.CheckState.Checked for i in range(p.list.count()))
    assert p.page_count == 2 and p.page_label.text() == "1 / 2 ページ"
    # PgDn / PgUp page through the current document
    p.list.setFocus()
    QTest.keyClick(p.list, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: p.current_page == 1)
    assert p.page_label.text() == "2 / 2 ページ"
    QTest.keyClick(p.list, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: p.current_page == 0)
    # the last document (the guide) in view: what the view shows changes with it
    qtbot.wait(500)  # QPdfView renders pages asynchronously
    first_page = p.view.grab().toImage()
    QTest.keyClick(p.list, Qt.Key.Key_End)
    assert p.documents[p.list.currentRow()].kind == "guide" and p.page_count == 1
    qtbot.wait(1000)
    assert p.view.grab().toImage() != first_page
    shot(p, screens, "output_preview")
    # Ctrl+P: the forms and the guide have different settings → two jobs, two files
    p.output_dir = tmp_path
    with qtbot.waitSignal(p.printed, timeout=30000):
        QTest.keyClick(p.list, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
        assert p.busy and p.printing and p.progress.isVisible() and p.cancel_button.isVisible()  # on the worker
        assert not p.print_button.isEnabled()
    assert not p.busy and not p.progress.isVisible() and not p.cancel_button.isVisible()
    files = sorted(tmp_path.glob("*.pdf"))
    assert len(files) == 2, p.banner.text()
    forms_pages = sum(d.pages for d in p.documents if d.kind == "form")
    assert len(PdfReader(str(files[0])).pages) == forms_pages
    # QPrinter output is a raster of each page: it must look like the source page (and not like another)
    printed_first = files[0].read_bytes()
    same, other = _similar(printed_first, p.documents[0].pdf), _similar(printed_first, p.documents[-1].pdf)
    assert same > 0.9 and other < 0.6, (same, other)
    assert "印刷済み" in p.list.item(0).text() and p.status.text() == f"{len(p.documents)}件の帳票を印刷しました。"
    with p.service.db.session() as s:
        assert {r.state for r in s.execute(select(OutputRow).where(OutputRow.case_id == p.case_id)).scalars()} == {
            "printed"}
    # the source documents' text: the case data
    t = _text(p.documents[0].pdf)
    assert "𠮷田一" in t and "昭和38年4月1日" in t and "北海道深川市二条7番3号" in t
    t2 = "".join(
        (pg.extract_text() or "") for pg in PdfReader(io.BytesIO(p.documents[0].pdf)).pages[1:])
    assert "𠮷田" in t2 and "九" in t2  # the ninth person on the second sheet


@pytest.mark.qt_log_ignore(r"QPainter::begin\(\): Returned false", "This plugin does not support propagateSizeHints")
def test_failed_print_is_shown_and_can_be_retried(panel, qtbot, tmp_path, screens):
    p = panel
    docs = list(p.documents)
    p.set_checked({docs[0].output_id, docs[-1].output_id})
    p.output_dir = tmp_path / "存在しないフォルダ" / "x"
    with qtbot.waitSignal(p.printed, timeout=30000):
        p.print_button.click()
    assert p.banner.isVisible()
    assert "印刷できませんでした" in p.banner.text() and "もう一度印刷できます" in p.banner.text()
    assert "住民異動届" in p.banner.text()
    assert p.documents == docs and "印刷失敗" in p.list.item(0).text()
    assert [d.output_id for d in p.checked()] == [docs[0].output_id, docs[-1].output_id]  # still chosen
    qtbot.wait(300)  # QPdfView renders pages asynchronously
    shot(p, screens, "output_preview_failed")
    with p.service.db.session() as s:
        rows = {r.id: r for r in s.execute(select(OutputRow).where(OutputRow.case_id == p.case_id)).scalars()}
        assert rows[docs[0].output_id].state == "failed" and "印刷を開始できませんでした" in rows[docs[0].output_id].message
        assert rows[docs[1].output_id].state == "rendered"
    # retry into a folder that exists
    p.output_dir = tmp_path
    with qtbot.waitSignal(p.printed, timeout=30000):
        QTest.keyClick(p.list, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert len(list(tmp_path.glob("*.pdf"))) == 2
    assert "印刷済み" in p.list.item(0).text() and "印刷済み" in p.list.item(len(docs) - 1).text()
    with p.service.db.session() as s:
        assert s.get(OutputRow, docs[0].output_id).state == "printed"


def test_screen_stays_responsive_while_printing(panel, qtbot, tmp_path):
    """The print runs on a worker: a timer on the UI thread keeps firing and the progress moves page by page."""
    p = panel
    p.settings = PrintSettings(PrinterSetting(dpi=300))  # one heavy job, as at the counter
    p.output_dir = tmp_path
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(p.progress.value()))
    progress = []
    p.progress.valueChanged.connect(progress.append)
    timer.start()
    with qtbot.waitSignal(p.printed, timeout=60000):
        p.print_button.click()
    timer.stop()
    pages = sum(d.pages for d in p.documents)
    # fired many times while printing (a UI-thread print would let it fire at most once), and saw
    # the progress bar at values between the start and the end
    assert len(ticks) >= 5, ticks
    assert any(0 < v < pages for v in ticks), ticks
    assert progress[-1] == pages and progress == sorted(progress)
    assert len(PdfReader(str(next(tmp_path.glob("*.pdf")))).pages) == pages
    assert p.status.text() == f"{len(p.documents)}件の帳票を印刷しました。"


def test_window_stays_open_until_the_print_is_recorded(db, panel, qtbot, tmp_path, demo_config, screens):
    """Closing the app mid-print would lose which forms were printed: the window says so and stays."""
    from PySide6.QtWidgets import QMessageBox

    from madoguchi.gui.main_window import MainWindow

    win = MainWindow(db, CLERK, demo_config)
    qtbot.addWidget(win)
    win.show_workspace(win.tabs.widget(win.add_workspace(panel, "出力")))
    panel.settings = PrintSettings(PrinterSetting(dpi=300))  # slow enough to close in the middle
    panel.output_dir = tmp_path
    win.show()
    assert win.printing() == []
    with qtbot.waitSignal(panel.printed, timeout=60000):
        panel.print_button.click()
        assert win.printing() == [panel]
        assert not win.close() and win.isVisible()
        box = win.findChild(QMessageBox, "printing_close_box")
        assert box is not None and "印刷が終わるまで閉じられません" in box.text()
        assert not win.close() and win.findChildren(QMessageBox, "printing_close_box") == [box]  # no pile of boxes
        shot(box, screens, "printing_close")
        box.accept()
    assert panel.status.text() == f"{len(panel.documents)}件の帳票を印刷しました。"  # recorded on the case
    assert win.printing() == [] and win.close()


def test_cancel_mid_batch_names_the_forms_not_printed(panel, qtbot, tmp_path):
    p = panel
    docs = list(p.documents)
    # one printer setting per document → one job per document
    p.settings = PrintSettings(PrinterSetting(dpi=300),
                               {d.form_id: PrinterSetting(dpi=300, copies=1 + n) for n, d in enumerate(docs)})
    p.output_dir = tmp_path
    pressed = []

    def press_cancel_once(value: int) -> None:
        if value > 0 and not pressed:  # the first page is out: 「中止」 while the batch is under way
            pressed.append(value)
            p.cancel_button.click()

    p.progress.valueChanged.connect(press_cancel_once)
    with qtbot.waitSignal(p.printed, timeout=60000):
        p.print_button.click()
    assert pressed
    assert "印刷を中止しました。" in p.banner.text() and "印刷されていない帳票" in p.banner.text()
    last = docs[-1]
    assert last.title in p.banner.text() and "印刷失敗" in p.list.item(len(docs) - 1).text()
    not_printed = [d for i, d in enumerate(docs) if "印刷失敗" in p.list.item(i).text()]
    printed = [d for i, d in enumerate(docs) if "印刷済み" in p.list.item(i).text()]
    assert len(printed) + len(not_printed) == len(docs) and len(printed) < len(docs)
    assert [d.output_id for d in p.checked()] == [d.output_id for d in not_printed]  # ready to retry
    # only whole jobs are left as files: one per printed document, no half-written one
    assert len(list(tmp_path.glob("*.pdf"))) == len(printed)
    with p.service.db.session() as s:
        rows = {r.id: r for r in s.execute(select(OutputRow).where(OutputRow.case_id == p.case_id)).scalars()}
    assert all(rows[d.output_id].state == "failed" and rows[d.output_id].message == "印刷を中止しました。"
               for d in not_printed)
    assert all(rows[d.output_id].state == "printed" for d in printed)
    # retry prints the rest
    p.progress.valueChanged.disconnect(press_cancel_once)
    with qtbot.waitSignal(p.printed, timeout=60000):
        p.print_button.click()
    assert all("印刷済み" in p.list.item(i).text() for i in range(len(docs))), p.banner.text()


def test_save_as_pdf(panel, tmp_path):
    p = panel
    target = tmp_path / "帳票.pdf"
    asked = []
    p.ask_save_path = lambda suggested: (asked.append(suggested), str(target))[1]
    p.set_checked({p.documents[-1].output_id})
    p.save_button.click()
    assert asked and asked[0].endswith("_帳票.pdf")
    text = _text(target.read_bytes())
    assert "お手続きのご案内" in text and "𠮷田一様" in text
    assert "印刷済み" in p.list.item(p.list.count() - 1).text()
    # an unwritable place: the Japanese message, nothing lost
    p.ask_save_path = lambda suggested: str(tmp_path / "ない" / "x.pdf")
    p.save_button.click()
    assert "PDFを保存できませんでした" in p.banner.text() and p.list.count() == len(p.documents)


def test_case_workspace_has_the_output_tab(db, qtbot, fonts, screens):
    from madoguchi.gui.case_view import CaseView
    from madoguchi.services.addresses import CityAddressBook, PostalBook
    from madoguchi.services.cases import CaseService

    case = _open_move(db, ["500001", "500002"], "H500", "7番3号")
    postal = PostalBook()
    try:
        v = CaseView(CaseService(db, CLERK), case.id, city=CityAddressBook(db), postal=postal, today=TODAY)
        qtbot.addWidget(v)
        v.resize(1400, 800)
        show_active(qtbot, v)
        labels = [v.tabs.tabText(i) for i in range(v.tabs.count())]
        assert "出力・印刷(&O)" in labels
        before = v.case.version
        v.tabs.setCurrentWidget(v.output_panel)
        qtbot.waitUntil(lambda: bool(v.output_panel.documents) and not v.output_panel.busy, timeout=20000)
        qtbot.waitUntil(lambda: v.case.version == before + 1)  # the workspace took the new version
        assert v.timeline_list.count() and "帳票を作成" in v.timeline_list.item(v.timeline_list.count() - 1).text()
        qtbot.wait(300)
        shot(v, screens, "case_view_outputs")
        v.output_panel.wait_idle()
        v.procedure_panel.wait_idle()
    finally:
        postal.close()


def _panel_for(db, qtbot, actor):
    case = _open_move(db, ["600001"], "H600", "9番1号", actor=actor)
    p = OutputPreview(OutputService(db, actor, today=TODAY), case.id, print_settings=SETTINGS)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    show_active(qtbot, p)
    qtbot.waitUntil(lambda: bool(p.documents) and not p.busy, timeout=20000)
    return p


def test_protected_address_only_for_a_permitted_role_with_a_reason(db, qtbot, fonts, screens):
    case_runner.ensure_staff(db, SUPPORT)
    clerk = _panel_for(db, qtbot, CLERK)
    assert clerk.hidden == (("600001", "石狩　静香"),) and not clerk.unmask_box.isVisible()
    assert "二条9番1号" not in _text(clerk.documents[0].pdf)
    clerk.wait_idle()

    p = _panel_for(db, qtbot, SUPPORT)
    assert p.unmask_box.isVisible() and p.unmask_person.currentData() == "600001"
    qtbot.wait(300)
    shot(p, screens, "output_preview_support_measure")
    p.unmask_button.click()  # no reason: refused, in Japanese
    assert "理由" in p.banner.text() and p.unmask_box.isVisible()
    first = [d.output_id for d in p.documents]
    p.unmask_reason.setText("本人が窓口で申出")
    QTest.keyClick(p.unmask_reason, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not p.busy and [d.output_id for d in p.documents] != first, timeout=20000)
    assert not p.unmask_box.isVisible() and p.hidden == ()
    juki = next(d for d in p.documents if d.form_id == "juki_idou")
    assert "北海道深川市二条9番1号" in _text(juki.pdf)
    p.wait_idle()
