"""QPrinter adapter: print rendered PDF bytes to the PC's local printers, or to a PDF file.

Forms come from ``madoguchi.printing`` as PDF bytes; here each page is rasterised with QtPdf
(QPdfDocument) and painted onto a QPrinter. Which printer, tray, duplex mode and number of
copies a form kind uses is the terminal's setting (``PrintSettings``). Forms going to the same
printer with the same setting are sent as one job, so a batch for a household comes out
together. Every failure is a ``PrintFailed`` with a Japanese message; case data is untouched and
the print can be retried.

``PrintWorker`` runs a batch on a QThread (rasterising takes seconds at 300 dpi, and the counter
screen must stay responsive): it creates its QPdfDocument and QPrinter in that thread, touches no
widget, and reports through signals; 「中止」 is checked between pages. ``PrintThread`` gives a worker
its thread and keeps both alive until the print has ended; every screen that prints uses the pair.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from PySide6.QtCore import (QBuffer, QByteArray, QCoreApplication, QObject, QRectF, QSize, QSizeF, Qt, QThread,
                            Signal, Slot)
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPrintSupport import QPrinter, QPrinterInfo

from ..errors import PrintFailed


class Duplex(StrEnum):
    NONE = "none"
    LONG = "long"    # 長辺とじ
    SHORT = "short"  # 短辺とじ
    AUTO = "auto"


_DUPLEX = {
    Duplex.NONE: QPrinter.DuplexMode.DuplexNone,
    Duplex.LONG: QPrinter.DuplexMode.DuplexLongSide,
    Duplex.SHORT: QPrinter.DuplexMode.DuplexShortSide,
    Duplex.AUTO: QPrinter.DuplexMode.DuplexAuto,
}
TRAYS = tuple(source.name for source in QPrinter.PaperSource)


@dataclass(frozen=True)
class PrinterSetting:
    """How one kind of form is printed on this terminal."""

    printer: str = ""   # "" → the PC's default printer
    tray: str = ""      # a QPrinter.PaperSource name (Auto, Lower, Manual …); "" → the printer's default
    duplex: Duplex = Duplex.NONE
    copies: int = 1
    color: bool = False
    dpi: int = 300      # raster resolution sent to the printer

    def check(self) -> None:
        if self.tray and self.tray not in TRAYS:
            raise PrintFailed(f"給紙トレイ「{self.tray}」は指定できません。使える値: {', '.join(TRAYS)}")
        if not 1 <= self.copies <= 99:
            raise PrintFailed("印刷部数は1から99の間で設定してください。")
        if not 72 <= self.dpi <= 600:
            raise PrintFailed("印刷の解像度は72から600dpiの間で設定してください。")


@dataclass
class PrintSettings:
    """Per-form-kind printer settings of one terminal, with a default for all other forms."""

    default: PrinterSetting = field(default_factory=PrinterSetting)
    forms: dict[str, PrinterSetting] = field(default_factory=dict)

    def for_form(self, form_kind: str) -> PrinterSetting:
        return self.forms.get(form_kind, self.default)

    def to_mapping(self) -> dict[str, Any]:
        return {"default": asdict(self.default), "forms": {k: asdict(v) for k, v in self.forms.items()}}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PrintSettings:
        def one(d: Mapping[str, Any]) -> PrinterSetting:
            unknown = set(d) - set(PrinterSetting.__dataclass_fields__)
            if unknown:
                raise PrintFailed(f"印刷設定に不明な項目 {', '.join(sorted(unknown))} があります。")
            s = PrinterSetting(**{**d, "duplex": Duplex(d.get("duplex", "none"))})
            s.check()
            return s

        return cls(one(data.get("default") or {}), {k: one(v) for k, v in (data.get("forms") or {}).items()})


@dataclass(frozen=True)
class PrintItem:
    form_kind: str
    pdf: bytes
    title: str = ""


@dataclass
class PrintJob:
    setting: PrinterSetting
    items: list[PrintItem]

    @property
    def name(self) -> str:
        titles = list(dict.fromkeys(i.title or i.form_kind for i in self.items))
        return "madoguchi: " + "・".join(titles)


def plan_jobs(items: Iterable[PrintItem], settings: PrintSettings) -> list[PrintJob]:
    """Group forms by their printer setting (order of first appearance kept): one job per printer."""
    jobs: dict[PrinterSetting, PrintJob] = {}
    for item in items:
        s = settings.for_form(item.form_kind)
        jobs.setdefault(s, PrintJob(s, [])).items.append(item)
    return list(jobs.values())


def merge_pdfs(pdfs: Sequence[bytes]) -> bytes:
    if len(pdfs) == 1:
        return pdfs[0]
    writer = PdfWriter()
    try:
        for pdf in pdfs:
            writer.append(PdfReader(io.BytesIO(pdf)))
    except PdfReadError as exc:
        raise PrintFailed("印刷データが壊れています。帳票を作り直してください。", detail=str(exc)) from None
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def available_printers() -> list[str]:
    return list(QPrinterInfo.availablePrinterNames())


def _printer(setting: PrinterSetting, output_file: Path | None) -> QPrinter:
    setting.check()
    if output_file is not None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(str(output_file))
        printer.setResolution(setting.dpi)
    else:
        if setting.printer:
            info = QPrinterInfo.printerInfo(setting.printer)
            if info.isNull():
                raise PrintFailed(f"プリンタ「{setting.printer}」が見つかりません。電源と接続を確認するか、"
                                  "印刷設定で別のプリンタを選んでください。")
        else:
            info = QPrinterInfo.defaultPrinter()
            if info.isNull():
                raise PrintFailed("このパソコンに使えるプリンタがありません。PDFとして保存してください。")
        printer = QPrinter(info, QPrinter.PrinterMode.HighResolution)
        if setting.tray:
            printer.setPaperSource(QPrinter.PaperSource[setting.tray])
        printer.setDuplex(_DUPLEX[setting.duplex])
    printer.setCopyCount(setting.copies)
    printer.setColorMode(QPrinter.ColorMode.Color if setting.color else QPrinter.ColorMode.GrayScale)
    printer.setFullPage(True)  # our PDFs carry their own margins
    return printer


def _page_size(points: QSizeF) -> tuple[QPageSize, QPageLayout.Orientation]:
    portrait = points.width() <= points.height()
    size = QSizeF(points) if portrait else QSizeF(points.height(), points.width())
    orientation = QPageLayout.Orientation.Portrait if portrait else QPageLayout.Orientation.Landscape
    return QPageSize(size, QPageSize.Unit.Point, "", QPageSize.SizeMatchPolicy.FuzzyMatch), orientation


class _LoadedPdf:
    """A QPdfDocument over PDF bytes, with the buffer kept alive as long as the document."""

    def __init__(self, pdf: bytes) -> None:
        self.data = QByteArray(pdf)
        self.buf = QBuffer(self.data)
        self.buf.open(QBuffer.OpenModeFlag.ReadOnly)
        self.doc = QPdfDocument()
        self.doc.load(self.buf)
        if self.doc.status() != QPdfDocument.Status.Ready or self.doc.pageCount() == 0:
            self.buf.close()
            raise PrintFailed("印刷データを読み込めませんでした。帳票を作り直してください。",
                              detail=str(self.doc.error()))

    def close(self) -> None:
        self.doc.close()
        self.buf.close()


def page_images(pdf: bytes, dpi: int = 96) -> list[QImage]:
    """Each page as an image on white (for previews and thumbnails)."""
    loaded = _LoadedPdf(pdf)
    try:
        out = []
        for i in range(loaded.doc.pageCount()):
            points = loaded.doc.pagePointSize(i)
            size = QSize(round(points.width() / 72 * dpi), round(points.height() / 72 * dpi))
            page = QImage(size, QImage.Format.Format_RGB32)
            page.fill(QColor("white"))
            painter = QPainter(page)
            painter.drawImage(0, 0, loaded.doc.render(i, size))
            painter.end()
            out.append(page)
        return out
    finally:
        loaded.close()


def save_pdf(pdf: bytes, path: Path) -> None:
    """No printer (or the clerk chose to): keep the forms as a PDF file."""
    try:
        path.write_bytes(pdf)
    except OSError as exc:
        raise PrintFailed(f"PDFを保存できませんでした（{path}）。保存先と空き容量を確認してください。",
                          detail=str(exc)) from None


CANCELLED_TEXT = "印刷を中止しました。"


class PrintCancelled(Exception):
    """「中止」 was pressed while a job was being painted; that job is not (completely) printed."""


def print_pdf(pdf: bytes, setting: PrinterSetting, *, job_name: str = "madoguchi",
              output_file: Path | None = None, cancelled: Callable[[], bool] | None = None,
              on_page: Callable[[int], None] | None = None) -> int:
    """Print PDF bytes with one QPrinter job (or write them through QPrinter to output_file).

    Returns the number of pages sent. Needs a QGuiApplication; may run on a worker thread.
    ``cancelled`` is asked before each page (→ ``PrintCancelled``); ``on_page`` gets each page number done.
    """
    loaded = _LoadedPdf(pdf)
    doc = loaded.doc
    try:
        return _paint(doc, setting, job_name, output_file, cancelled or (lambda: False), on_page)
    finally:
        loaded.close()


# Rows of raster drawn per call. PySide keeps the GIL during QPainter.drawImage (~100 ms for a 300 dpi
# page into a PDF engine) and QPdfDocument.render (~40 ms), so even a worker would stall the UI thread;
# drawing in bands lets it run between them. (Rendering in bands with QtPdf's scaledClipRect does not
# match the whole-page raster in PySide 6.11, so the page is rendered in one call.)
BAND_ROWS = 256


def _paint_bands(doc: QPdfDocument, page: int, pixels: QSize, painter: QPainter, target: QRectF) -> None:
    image = doc.render(page, pixels)
    if image.isNull():
        raise PrintFailed(f"{page + 1}ページ目を描画できませんでした。もう一度印刷してください。")
    scale = target.height() / image.height()
    for y in range(0, image.height(), BAND_ROWS):
        rows = min(BAND_ROWS, image.height() - y)
        painter.drawImage(QRectF(target.left(), target.top() + y * scale, target.width(), rows * scale),
                          image, QRectF(0, y, image.width(), rows))


def _paint(doc: QPdfDocument, setting: PrinterSetting, job_name: str, output_file: Path | None,
           cancelled: Callable[[], bool], on_page: Callable[[int], None] | None) -> int:
    printer = _printer(setting, output_file)
    printer.setDocName(job_name)
    size, orientation = _page_size(doc.pagePointSize(0))
    printer.setPageSize(size)
    printer.setPageOrientation(orientation)
    painter = QPainter()
    if not painter.begin(printer):
        raise PrintFailed("印刷を開始できませんでした。プリンタの状態（用紙・トナー・オフライン）を確認して、"
                          "もう一度印刷してください。")
    aborted = False
    try:
        for i in range(doc.pageCount()):
            if cancelled():
                aborted = True
                printer.abort()  # drops the spooled job where the engine can (Windows); PDF: file removed below
                raise PrintCancelled
            points = doc.pagePointSize(i)
            if i:
                size, orientation = _page_size(points)
                printer.setPageSize(size)
                printer.setPageOrientation(orientation)
                if not printer.newPage():
                    raise PrintFailed("印刷の途中でプリンタが応答しなくなりました。もう一度印刷してください。")
            target = QRectF(printer.paperRect(QPrinter.Unit.DevicePixel))
            pixels = QSize(round(points.width() / 72 * setting.dpi), round(points.height() / 72 * setting.dpi))
            painter.fillRect(target, QColor("white"))
            _paint_bands(doc, i, pixels, painter, target)
            if on_page is not None:
                on_page(i + 1)
    finally:
        painter.end()
        if aborted and output_file is not None:
            output_file.unlink(missing_ok=True)  # a half-written file is not a print
    return doc.pageCount()


@dataclass(frozen=True)
class JobResult:
    job: PrintJob
    pages: int
    output_file: Path | None = None


def print_items(items: Sequence[PrintItem], settings: PrintSettings, *,
                output_dir: Path | None = None) -> list[JobResult]:
    """Print a batch: one job per printer setting. With output_dir, each job goes to a PDF file there."""
    results = []
    for n, job in enumerate(plan_jobs(items, settings), start=1):
        pdf = merge_pdfs([i.pdf for i in job.items])
        target = output_dir / f"job{n}.pdf" if output_dir is not None else None
        pages = print_pdf(pdf, job.setting, job_name=job.name, output_file=target)
        results.append(JobResult(job, pages, target))
    return results


def with_copies(setting: PrinterSetting, copies: int) -> PrinterSetting:
    """The same setting with another number of copies (e.g. 2 copies asked at the counter)."""
    return replace(setting, copies=copies)


class PrintWorker(QObject):
    """Prints a batch of jobs on the thread it is moved to; everything it tells goes out as signals.

    Connect its signals with queued connections to UI-thread receivers. ``cancel()`` may be called
    from any thread. The batch stops at the first failure or at 「中止」; ``finished`` always comes last.
    """

    job_started = Signal(int, str)   # job index, job name
    page_printed = Signal(int, int)  # job index, page number within the job
    job_done = Signal(int, int)      # job index, pages sent
    job_failed = Signal(int, str)    # job index, Japanese message
    cancelled = Signal(int)          # index of the first job not (completely) printed
    finished = Signal()

    def __init__(self, jobs: Sequence[PrintJob], output_files: Sequence[Path | None] | None = None) -> None:
        super().__init__()
        self.jobs = list(jobs)
        self.output_files = list(output_files) if output_files is not None else [None] * len(self.jobs)
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @Slot()
    def run(self) -> None:
        try:
            for n, (job, target) in enumerate(zip(self.jobs, self.output_files, strict=True)):
                if self._cancel.is_set():
                    self.cancelled.emit(n)
                    return
                self.job_started.emit(n, job.name)
                try:
                    pages = print_pdf(merge_pdfs([i.pdf for i in job.items]), job.setting, job_name=job.name,
                                      output_file=target, cancelled=self._cancel.is_set,
                                      on_page=lambda page, n=n: self.page_printed.emit(n, page))
                except PrintCancelled:
                    self.cancelled.emit(n)
                    return
                except PrintFailed as exc:
                    self.job_failed.emit(n, exc.message)
                    return
                except Exception as exc:  # noqa: BLE001 - told to the UI thread in Japanese, never lost
                    self.job_failed.emit(n, f"印刷できませんでした（{type(exc).__name__}: {exc}）。もう一度印刷してください。")
                    return
                self.job_done.emit(n, pages)
        finally:
            # Back to the main thread so the owner can drop it after the QThread has ended.
            app = QCoreApplication.instance()
            if app is not None:
                self.moveToThread(app.thread())
            self.finished.emit()


# Print threads still running, with their workers: a screen closed mid-print must not destroy them.
_LIVE_PRINTS: set[PrintThread] = set()


class PrintThread:
    """A ``PrintWorker`` on its own QThread.

    Connect the worker's signals (queued, to UI-thread receivers) before ``start()``; call ``join()``
    from the UI-thread slot of the worker's ``finished`` (the thread is then ending by itself).
    """

    def __init__(self, worker: PrintWorker) -> None:
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName("madoguchi-print")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        worker.finished.connect(self.thread.quit, Qt.ConnectionType.DirectConnection)

    def start(self) -> None:
        _LIVE_PRINTS.add(self)
        self.thread.start()

    def cancel(self) -> None:
        self.worker.cancel()

    @property
    def is_cancelled(self) -> bool:
        return self.worker.is_cancelled

    def wait(self, ms: int) -> bool:
        return self.thread.wait(ms)

    def join(self) -> None:
        self.thread.wait()
        _LIVE_PRINTS.discard(self)
