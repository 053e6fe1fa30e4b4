"""QPrinter adapter: batches grouped per printer, printed through QPrinter into PDF files (offscreen)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

import PySide6.QtPdf  # noqa: E402,F401  (preview and print need QtPdf; never skip)

from madoguchi.errors import PrintFailed  # noqa: E402
from madoguchi.gui.printing import (  # noqa: E402
    Duplex,
    PrinterSetting,
    PrintItem,
    PrintSettings,
    page_images,
    plan_jobs,
    print_items,
    print_pdf,
    save_pdf,
)
from madoguchi.printing import samples  # noqa: E402
from madoguchi.printing.render import render_form  # noqa: E402


@pytest.fixture(scope="module")
def forms():
    return {t: render_form(t, samples.template_sample_context(t)) for t in ("juki_idou", "kokuho_idou", "inkan_touroku")}


def test_jobs_are_grouped_per_printer_setting(forms):
    settings = PrintSettings(PrinterSetting("窓口プリンタ"),
                             {"inkan_touroku": PrinterSetting("証明プリンタ", tray="Lower", duplex=Duplex.LONG)})
    items = [PrintItem(k, v) for k, v in forms.items()]
    jobs = plan_jobs(items, settings)
    assert [j.setting.printer for j in jobs] == ["窓口プリンタ", "証明プリンタ"]
    assert [i.form_kind for i in jobs[0].items] == ["juki_idou", "kokuho_idou"]


def test_print_batch_to_pdf_files_through_qprinter(qapp, tmp_path, forms):
    settings = PrintSettings(PrinterSetting(dpi=100), {"inkan_touroku": PrinterSetting(dpi=100, copies=1)})
    items = [PrintItem(k, v) for k, v in forms.items()]
    results = print_items(items, settings, output_dir=tmp_path)
    assert len(results) == 1  # same setting → one job
    assert results[0].pages == 3
    reader = PdfReader(io.BytesIO(results[0].output_file.read_bytes()))
    assert len(reader.pages) == 3
    w, h = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert abs(w - 595.3) < 2 and abs(h - 841.9) < 2  # A4 kept
    # The printed pages carry the forms' lines and text; a blank page through the same pipeline has none.
    from reportlab.pdfgen.canvas import Canvas

    blank = io.BytesIO()
    c = Canvas(blank)
    c.showPage()
    c.save()
    print_pdf(blank.getvalue(), PrinterSetting(dpi=100), output_file=tmp_path / "blank.pdf")
    assert _ink((tmp_path / "blank.pdf").read_bytes(), 0) == 0
    for page in range(3):
        assert _ink(results[0].output_file.read_bytes(), page) > 0.01


def _ink(pdf: bytes, page: int) -> float:
    """Share of dark pixels on a page, rendered back with QtPdf."""
    img = page_images(pdf, dpi=25)[page]
    dark = sum(1 for y in range(img.height()) for x in range(img.width()) if img.pixelColor(x, y).value() < 160)
    return dark / (img.width() * img.height())


def test_landscape_and_mixed_page_sizes(qapp, tmp_path):
    from reportlab.lib.pagesizes import A3, A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4)
    c.drawString(100, 100, "p1")
    c.showPage()
    c.setPageSize(landscape(A3))
    c.drawString(100, 100, "p2")
    c.showPage()
    c.save()
    out = tmp_path / "mixed.pdf"
    assert print_pdf(buf.getvalue(), PrinterSetting(dpi=72), output_file=out) == 2
    pages = PdfReader(str(out)).pages
    w2, h2 = (float(v) for v in pages[1].mediabox.upper_right)
    assert w2 > h2 and abs(w2 - 1190.6) < 3


def test_errors_are_print_failed_in_japanese(qapp, tmp_path, forms):
    with pytest.raises(PrintFailed, match="印刷データを読み込めません"):
        print_pdf(b"not a pdf", PrinterSetting(), output_file=tmp_path / "x.pdf")
    with pytest.raises(PrintFailed, match="見つかりません"):
        print_pdf(forms["juki_idou"], PrinterSetting(printer="存在しないプリンタ"))
    with pytest.raises(PrintFailed, match="給紙トレイ"):
        print_pdf(forms["juki_idou"], PrinterSetting(tray="Drawer9"), output_file=tmp_path / "y.pdf")


def test_settings_round_trip_and_strictness():
    s = PrintSettings(PrinterSetting("A"), {"koufu_seikyu": PrinterSetting("B", "Manual", Duplex.SHORT, 2, True)})
    assert PrintSettings.from_mapping(s.to_mapping()) == s
    with pytest.raises(PrintFailed, match="不明な項目"):
        PrintSettings.from_mapping({"default": {"printr": "A"}})
    with pytest.raises(PrintFailed, match="部数"):
        PrintSettings.from_mapping({"default": {"copies": 0}})


def test_page_images_for_preview(qapp, forms):
    images = page_images(forms["juki_idou"], dpi=50)
    assert len(images) == 1
    assert (images[0].width(), images[0].height()) == (413, 585)  # A4 at 50 dpi
    assert images[0].pixelColor(1, 1).name() == "#ffffff"  # a white page, not transparent


def test_save_pdf_errors_are_print_failed(tmp_path, forms):
    save_pdf(forms["juki_idou"], tmp_path / "out.pdf")
    assert (tmp_path / "out.pdf").read_bytes() == forms["juki_idou"]
    with pytest.raises(PrintFailed, match="PDFを保存できませんでした"):
        save_pdf(forms["juki_idou"], tmp_path / "no" / "such" / "dir.pdf")


def _run_worker(qtbot, worker):
    """Run a PrintWorker on a QThread as the panel does; collect its signals on this (UI) thread."""
    from PySide6.QtCore import QObject, Qt, QThread, QTimer

    got: list[tuple] = []

    class Sink(QObject):  # a receiver living on the UI thread, so queued slots run here
        def started(self, n, name): got.append(("started", n, name, QThread.currentThread() is main))

        def page(self, n, p): got.append(("page", n, p))

        def done(self, n, pages): got.append(("done", n, pages))

        def failed(self, n, message): got.append(("failed", n, message))

        def cancelled(self, n): got.append(("cancelled", n))

    main = QThread.currentThread()
    sink = Sink()
    thread = QThread()
    worker.moveToThread(thread)
    q = Qt.ConnectionType.QueuedConnection
    thread.started.connect(worker.run)
    worker.job_started.connect(sink.started, q)
    worker.page_printed.connect(sink.page, q)
    worker.job_done.connect(sink.done, q)
    worker.job_failed.connect(sink.failed, q)
    worker.cancelled.connect(sink.cancelled, q)
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    with qtbot.waitSignal(thread.finished, timeout=60000):
        thread.start()
    timer.stop()
    thread.wait()
    qtbot.wait(50)  # the last queued signals
    return got, len(ticks)


def test_worker_prints_on_its_thread_and_reports(qtbot, tmp_path, forms):
    from madoguchi.gui.printing import PrintWorker

    settings = PrintSettings(PrinterSetting(dpi=300), {"inkan_touroku": PrinterSetting(dpi=300, copies=2)})
    jobs = plan_jobs([PrintItem(k, v, k) for k, v in forms.items()], settings)
    files = [tmp_path / "a.pdf", tmp_path / "b.pdf"]
    got, ticks = _run_worker(qtbot, PrintWorker(jobs, files))
    assert got == [("started", 0, "madoguchi: juki_idou・kokuho_idou", True), ("page", 0, 1), ("page", 0, 2),
                   ("done", 0, 2), ("started", 1, "madoguchi: inkan_touroku", True), ("page", 1, 1), ("done", 1, 1)]
    assert [len(PdfReader(str(f)).pages) for f in files] == [2, 1]
    assert _ink(files[0].read_bytes(), 1) > 0.01
    # The UI thread's timer kept firing while the worker painted. Blocked, it would fire at most once
    # (missed ticks are not queued); how often it fires beyond that depends on the machine's speed.
    assert ticks >= 2


def test_worker_cancel_between_pages_leaves_no_half_file(qtbot, tmp_path, forms):
    from PySide6.QtCore import Qt

    from madoguchi.gui.printing import PrintWorker

    settings = PrintSettings(PrinterSetting(dpi=100), {"inkan_touroku": PrinterSetting(dpi=100, copies=2)})
    jobs = plan_jobs([PrintItem(k, v) for k, v in forms.items()], settings)
    files = [tmp_path / "a.pdf", tmp_path / "b.pdf"]
    worker = PrintWorker(jobs, files)
    # 「中止」 right after the first page, from the worker's own thread: deterministic for the test
    worker.page_printed.connect(lambda n, page: worker.cancel(), Qt.ConnectionType.DirectConnection)
    got, _ticks = _run_worker(qtbot, worker)
    assert got == [("started", 0, jobs[0].name, True), ("page", 0, 1), ("cancelled", 0)]
    assert not files[0].exists() and not files[1].exists()


def test_worker_stops_at_a_failure_in_japanese(qtbot, tmp_path, forms):
    from madoguchi.gui.printing import PrintWorker

    settings = PrintSettings(PrinterSetting(dpi=72), {"inkan_touroku": PrinterSetting(dpi=72, copies=2)})
    jobs = plan_jobs([PrintItem(k, v) for k, v in forms.items()], settings)
    jobs.insert(1, plan_jobs([PrintItem("broken", b"not a pdf")], PrintSettings())[0])
    files = [tmp_path / "a.pdf", tmp_path / "broken.pdf", tmp_path / "c.pdf"]
    got, _ticks = _run_worker(qtbot, PrintWorker(jobs, files))
    assert [g[0] for g in got] == ["started", "page", "page", "done", "started", "failed"]
    assert got[-1][1] == 1 and "印刷データを読み込めません" in got[-1][2]
    assert files[0].exists() and not files[2].exists()  # the batch stopped there


def test_print_thread_keeps_the_run_alive_until_joined(qtbot, tmp_path, forms):
    from madoguchi.gui import printing
    from madoguchi.gui.printing import PrintThread, PrintWorker

    jobs = plan_jobs([PrintItem("juki_idou", forms["juki_idou"])], PrintSettings(PrinterSetting(dpi=72)))
    run = PrintThread(PrintWorker(jobs, [tmp_path / "a.pdf"]))
    with qtbot.waitSignal(run.worker.finished, timeout=30000):
        run.start()
        assert run in printing._LIVE_PRINTS  # noqa: SLF001 - held while the thread runs
    run.join()
    assert run not in printing._LIVE_PRINTS and run.thread.isFinished()  # noqa: SLF001
    assert len(PdfReader(str(tmp_path / "a.pdf")).pages) == 1
