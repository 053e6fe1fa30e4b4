"""「出力・印刷」: preview and print the case's forms and 手続き案内書 (F9, F10).

The documents are rendered by `OutputService` on a worker thread (CEL listing + reportlab, no Qt
objects there); the result comes back through a queued signal. Pages are shown with QtPdf's
QPdfView. Printing runs on a QThread (`PrintWorker`: its own QPdfDocument and QPrinter, no widgets),
one job per printer of the terminal's per-form setting; progress and results come back as queued
signals, so the screen stays responsive; 「中止」 takes effect before the next page. A failed
or cancelled print is recorded (`mark_failed`) and shown in Japanese; everything stays on screen
and 「印刷」 tries again. Without a printer, 「PDFとして保存」 asks where to save.

Keys: Ctrl+P prints the checked documents, PgUp/PgDn page through the current one, Ctrl+S saves as PDF.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QEventLoop, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import (QApplication, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget)

from madoguchi.domain.masking import UNMASK_PERMISSION
from madoguchi.errors import KnownError, PrintFailed
from madoguchi.gui.printing import (CANCELLED_TEXT, PrintItem, PrintSettings, PrintThread, PrintWorker,
                                    available_printers, merge_pdfs, plan_jobs, save_pdf)
from madoguchi.services.cases import CaseInfo
from madoguchi.services.outputs import STATE_LABELS, OutputBatch, OutputService, RenderedOutput

# One worker for rendering: calls run in order, never touch Qt objects.
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="madoguchi-outputs")


class _Bridge(QObject):
    done = Signal(object, object)  # result, exception


@dataclass
class _PrintRun:
    """What one print is doing, gathered on the UI thread from the worker's signals."""

    titles: dict[int, str]
    job_ids: list[list[int]]
    printer: str
    printed: list[int] = field(default_factory=list)
    failed_from: int | None = None  # first job not printed (failure or 「中止」)
    message: str = ""


class OutputPreview(QWidget):
    """All outputs of one case: check boxes, page view, print / save as PDF."""

    saved = Signal(object)  # CaseInfo after a write (render, print state)
    printed = Signal()      # a print finished (printed, failed or cancelled) and was recorded

    def __init__(self, service: OutputService, case_id: int, *, print_settings: PrintSettings | None = None,
                 version: Callable[[], int | None] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.case_id = case_id
        self.settings = print_settings or PrintSettings()
        self._version = version or (lambda: None)
        self.case: CaseInfo | None = None
        self.documents: list[RenderedOutput] = []
        self.states: dict[int, str] = {}
        self.output_dir: Path | None = None  # print into PDF files here (a PDF "printer") instead of printers
        self.ask_save_path: Callable[[str], str | None] = self._ask_save_path
        self._running: Future | None = None
        self._printing = False
        self._print: PrintThread | None = None
        self._print_run: _PrintRun | None = None
        self._page_base: list[int] = [0]
        self._rendered_once = False
        self._pdf_data: QByteArray | None = None
        self._pdf_buf: QBuffer | None = None

        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._rendered, Qt.ConnectionType.QueuedConnection)

        self.render_button = QPushButton("帳票を作り直す(&R)")
        self.status = QLabel("")
        self.status.setObjectName("output_status")
        self.banner = QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fde2e1; color: #8a1c1c; padding: 6px; border: 1px solid #e0a0a0")
        self.banner.hide()

        # 支援措置: a permitted role may let this case's outputs show a protected person's address.
        self.unmask_box = QWidget()
        ub = QHBoxLayout(self.unmask_box)
        ub.setContentsMargins(0, 0, 0, 0)
        self.unmask_person = QComboBox()
        self.unmask_reason = QLineEdit()
        self.unmask_reason.setPlaceholderText("住所を印刷する理由（必須・操作ログに記録）")
        self.unmask_button = QPushButton("住所を帳票に表示")
        ub.addWidget(QLabel("支援措置対象者の住所は非表示です:"))
        ub.addWidget(self.unmask_person)
        ub.addWidget(self.unmask_reason, 1)
        ub.addWidget(self.unmask_button)
        self.unmask_box.hide()
        self.hidden: tuple[tuple[str, str], ...] = ()

        self.list = QListWidget()
        self.list.setObjectName("outputs")
        self.list.setWordWrap(True)
        self.doc = QPdfDocument(self)
        self.view = self._new_view()
        self.page_label = QLabel("")
        self.prev_button = QPushButton("前のページ")
        self.next_button = QPushButton("次のページ")
        self.print_button = QPushButton("印刷(&P)")
        self.print_button.setToolTip("チェックした帳票を印刷します（Ctrl+P）")
        self.save_button = QPushButton("PDFとして保存(&S)")
        self.cancel_button = QPushButton("中止")
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.hide()

        top = QHBoxLayout()
        top.addWidget(self.render_button)
        top.addWidget(self.status, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("出力する帳票（チェックした帳票を印刷します）"))
        ll.addWidget(self.list, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        nav = QHBoxLayout()
        nav.addWidget(self.prev_button)
        nav.addWidget(self.page_label, 1, Qt.AlignmentFlag.AlignCenter)
        nav.addWidget(self.next_button)
        self._view_box = QVBoxLayout()
        self._view_box.setContentsMargins(0, 0, 0, 0)
        self._view_box.addWidget(self.view)
        rl.addLayout(self._view_box, 1)
        rl.addLayout(nav)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([320, 700])
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.cancel_button)
        bottom.addStretch(0)
        bottom.addWidget(self.save_button)
        bottom.addWidget(self.print_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.banner)
        lay.addWidget(self.unmask_box)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)

        self.render_button.clicked.connect(self.render)
        self.print_button.clicked.connect(self.print_checked)
        self.save_button.clicked.connect(self.save_checked)
        self.cancel_button.clicked.connect(self.cancel)
        self.unmask_button.clicked.connect(self.unmask)
        self.unmask_reason.returnPressed.connect(self.unmask)
        self.prev_button.clicked.connect(lambda: self.go_page(-1))
        self.next_button.clicked.connect(lambda: self.go_page(1))
        self.list.currentRowChanged.connect(self._show_document)
        for keys, slot in ((QKeySequence.StandardKey.Print, self.print_checked),
                           (QKeySequence.StandardKey.Save, self.save_checked),
                           (QKeySequence(Qt.Key.Key_PageDown), lambda: self.go_page(1)),
                           (QKeySequence(Qt.Key.Key_PageUp), lambda: self.go_page(-1))):
            sc = QShortcut(keys, self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
        self._update_buttons()

    # --- rendering (worker thread) -------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._running is not None or self._printing

    @property
    def printing(self) -> bool:
        """A print is under way: its result is recorded on the case when the worker ends."""
        return self._printing

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().showEvent(event)
        if not self._rendered_once and self._running is None:
            self.render()

    def render(self) -> None:
        """Render every output of the case again (recorded as a new set of outputs)."""
        if self.busy:
            return
        self._rendered_once = True
        self.status.setText("帳票を作成しています…")
        self.banner.hide()
        version = self._version()  # read here, on the UI thread
        service, case_id, bridge = self.service, self.case_id, self._bridge

        def run() -> None:
            try:
                result = service.render_case_outputs(case_id, version=version)
            except Exception as exc:  # noqa: BLE001 - handed to the UI thread, which decides
                bridge.done.emit(None, exc)
                return
            bridge.done.emit(result, None)

        self._running = _EXECUTOR.submit(run)
        self._update_buttons()

    def _rendered(self, result: OutputBatch | None, exc: BaseException | None) -> None:
        self._running = None
        if exc is not None:
            self.status.setText("")
            if isinstance(exc, KnownError):
                self._error(exc.message)
            else:
                self._error(f"帳票を作成できませんでした（{type(exc).__name__}: {exc}）。")
            self._update_buttons()
            return
        assert result is not None  # noqa: S101
        self.case = result.case
        self.documents = list(result.documents)
        self.states = {d.output_id: "rendered" for d in self.documents}
        self.hidden = result.hidden
        self.unmask_person.clear()
        for atena_no, name in self.hidden:
            self.unmask_person.addItem(f"{name}（{atena_no}）", atena_no)
        self.unmask_box.setVisible(bool(self.hidden) and self.service.actor.can(UNMASK_PERMISSION))
        self._fill_list()
        pages = sum(d.pages for d in self.documents)
        self.status.setText(result.message or f"{len(self.documents)}件の帳票（{pages}ページ）を作成しました。")
        if self.documents:
            self.saved.emit(result.case)
        self._update_buttons()

    def unmask(self) -> None:
        """Record the unmask in this case (audited) and render again with the address shown."""
        atena_no = self.unmask_person.currentData()
        if self.busy or not atena_no:
            return
        try:
            self.case = self.service.unmask_for_case(self.case_id, self._current_version(), atena_no,
                                                     self.unmask_reason.text())
        except KnownError as exc:
            self._error(exc.message)
            return
        self.saved.emit(self.case)
        self.unmask_reason.clear()
        self.render()

    def wait_idle(self, timeout_ms: int = 15000) -> bool:
        """Wait for a render and a print to finish (a print's results are taken on this thread's events)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self._printing and time.monotonic() < deadline:
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            if self._print is not None:
                self._print.wait(10)
        if self._printing:
            return False
        running = self._running
        if running is None:
            return True
        return not wait_futures([running], timeout=max(deadline - time.monotonic(), 0)).not_done

    # --- list and pages ------------------------------------------------------------------------

    def _item_text(self, d: RenderedOutput) -> str:
        state = STATE_LABELS.get(self.states.get(d.output_id, ""), "")
        return f"［{d.kind_label}］{d.title}（{d.pages}ページ）　{state}"

    def _fill_list(self) -> None:
        self.list.clear()
        for d in self.documents:
            item = QListWidgetItem(self._item_text(d))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, d.output_id)
            self.list.addItem(item)
        if self.documents:
            self.list.setCurrentRow(0)
        else:
            self._show_document(-1)

    def _refresh_states(self) -> None:
        for i, d in enumerate(self.documents):
            self.list.item(i).setText(self._item_text(d))

    def checked(self) -> list[RenderedOutput]:
        return [d for i, d in enumerate(self.documents)
                if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, output_ids: set[int]) -> None:
        for i, d in enumerate(self.documents):
            self.list.item(i).setCheckState(Qt.CheckState.Checked if d.output_id in output_ids
                                            else Qt.CheckState.Unchecked)

    def _new_view(self) -> QPdfView:
        view = QPdfView(self)
        view.setDocument(self.doc)
        view.setPageMode(QPdfView.PageMode.SinglePage)
        view.setZoomMode(QPdfView.ZoomMode.FitInView)
        view.pageNavigator().currentPageChanged.connect(lambda _p: self._show_page_label())
        return view

    def _show_document(self, row: int) -> None:
        # A fresh document and view per document: QPdfView renders pages on a thread and may file a
        # late page of the previous document under the new one (seen when switching quickly).
        old_doc, old_view = self.doc, self.view
        self.doc = QPdfDocument(self)
        self._pdf_buf = None
        if 0 <= row < len(self.documents):
            self._pdf_data = QByteArray(self.documents[row].pdf)
            self._pdf_buf = QBuffer(self._pdf_data)
            self._pdf_buf.open(QBuffer.OpenModeFlag.ReadOnly)
            self.doc.load(self._pdf_buf)
        self.view = self._new_view()
        self._view_box.replaceWidget(old_view, self.view)
        old_view.hide()
        old_view.deleteLater()
        old_doc.deleteLater()
        self.view.pageNavigator().jump(0, QPointF(), 0)
        self._show_page_label()

    @property
    def current_page(self) -> int:
        return self.view.pageNavigator().currentPage()

    @property
    def page_count(self) -> int:
        return self.doc.pageCount()

    def go_page(self, step: int) -> None:
        n = self.page_count
        if n <= 0:
            return
        page = min(max(self.current_page + step, 0), n - 1)
        self.view.pageNavigator().jump(page, QPointF(), 0)
        self._show_page_label()

    def _show_page_label(self) -> None:
        n = self.page_count
        self.page_label.setText(f"{self.current_page + 1} / {n} ページ" if n > 0 else "")
        self.prev_button.setEnabled(n > 0 and self.current_page > 0)
        self.next_button.setEnabled(n > 0 and self.current_page < n - 1)

    # --- printing (worker thread, results on the UI thread) ------------------------------------------------------------------

    def _update_buttons(self) -> None:
        has = bool(self.documents) and not self.busy
        self.print_button.setEnabled(has)
        self.save_button.setEnabled(has)
        self.render_button.setEnabled(not self.busy)
        self.cancel_button.setVisible(self._printing)
        self.progress.setVisible(self._printing)

    def _error(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def has_printer(self) -> bool:
        return self.output_dir is not None or bool(available_printers())

    def cancel(self) -> None:
        """「中止」: the worker stops before its next page; what is not printed is recorded as such."""
        if self._print is not None:
            self._print.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("印刷を中止しています…")

    def print_checked(self) -> None:
        """Print the checked documents on a worker thread: one job per printer; failures recorded and shown."""
        if self.busy or not self.documents:
            return
        docs = self.checked()
        if not docs:
            self._error("印刷する帳票にチェックを付けてください。")
            return
        if not self.has_printer():
            self._error("このパソコンに使えるプリンタがありません。PDFとして保存してください。")
            self.save_checked()
            return
        self.banner.hide()
        items = [PrintItem(d.form_id, d.pdf, d.title) for d in docs]
        ids_of = {id(it): d.output_id for it, d in zip(items, docs, strict=True)}
        jobs = plan_jobs(items, self.settings)
        targets: list[Path | None] = [None] * len(jobs)
        if self.output_dir is not None:
            case_no = self.case.case_no if self.case else "case"
            stamp = int(time.time() * 1000)
            targets = [self.output_dir / f"{case_no}-job{n}-{stamp}.pdf" for n in range(1, len(jobs) + 1)]
        pages_of = {d.output_id: d.pages for d in docs}
        self._print_run = _PrintRun(
            titles={d.output_id: d.title for d in docs},
            job_ids=[[ids_of[id(it)] for it in job.items] for job in jobs],
            printer="PDFファイル" if self.output_dir is not None else (jobs[0].setting.printer if jobs else ""))
        self._page_base = [0]
        for ids in self._print_run.job_ids:
            self._page_base.append(self._page_base[-1] + sum(pages_of[i] for i in ids))

        worker = PrintWorker(jobs, targets)
        print_thread = PrintThread(worker)
        queued = Qt.ConnectionType.QueuedConnection
        worker.job_started.connect(self._job_started, queued)
        worker.page_printed.connect(self._page_printed, queued)
        worker.job_done.connect(self._job_done, queued)
        worker.job_failed.connect(self._job_failed, queued)
        worker.cancelled.connect(self._job_cancelled, queued)
        worker.finished.connect(self._printed, queued)
        self._print = print_thread
        self._printing = True
        self.progress.setRange(0, max(self._page_base[-1], 1))
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"印刷を始めています（{len(jobs)}件のジョブ）…")
        self._update_buttons()
        print_thread.start()

    # Slots below run on the UI thread (queued from the print worker).

    def _job_started(self, n: int, name: str) -> None:
        if self._print is not None and not self._print.is_cancelled:
            self.status.setText(f"印刷しています（{n + 1}/{len(self._print_run.job_ids)}）: {name}")

    def _page_printed(self, n: int, page: int) -> None:
        self.progress.setValue(self._page_base[n] + page)

    def _job_done(self, n: int, _pages: int) -> None:
        self._print_run.printed += self._print_run.job_ids[n]
        self.progress.setValue(self._page_base[n + 1])

    def _job_failed(self, n: int, message: str) -> None:
        self._print_run.failed_from, self._print_run.message = n, message

    def _job_cancelled(self, n: int) -> None:
        self._print_run.failed_from, self._print_run.message = n, CANCELLED_TEXT

    def _printed(self) -> None:
        run = self._print_run
        if self._print is not None:
            self._print.join()
        self._print = None
        self._printing = False
        self._update_buttons()
        printed = list(run.printed)
        failed = [i for ids in run.job_ids[run.failed_from:] for i in ids] if run.failed_from is not None else []
        self._record(printed, failed, run.message, run.printer)
        if failed:
            names = "、".join(run.titles[i] for i in failed)
            self._error(f"印刷できませんでした: {run.message}\n印刷されていない帳票: {names}\n"
                        "内容はそのまま残っています。「印刷」でもう一度印刷できます。")
            self.set_checked(set(failed))
            self.status.setText(f"{len(printed)}件を印刷、{len(failed)}件は印刷されていません。")
        else:
            self.status.setText(f"{len(printed)}件の帳票を印刷しました。")
        self.printed.emit()

    def _record(self, printed: list[int], failed: list[int], message: str, printer: str) -> None:
        """Note the print state on the case; a stale case is told, the documents stay."""
        try:
            if printed:
                self.case = self.service.mark_printed(self.case_id, self._current_version(), printed,
                                                      printer=printer)
                self.saved.emit(self.case)
            if failed:
                self.case = self.service.mark_failed(self.case_id, self._current_version(), failed, message)
                self.saved.emit(self.case)
        except KnownError as exc:
            self._error(f"印刷の記録を保存できませんでした: {exc.message}")
        for i in printed:
            self.states[i] = "printed"
        for i in failed:
            self.states[i] = "failed"
        self._refresh_states()

    def _current_version(self) -> int:
        host = self._version()
        mine = self.case.version if self.case else 0
        return max(host or 0, mine)

    def _ask_save_path(self, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "PDFとして保存", suggested, "PDF (*.pdf)")
        return path or None

    def save_checked(self) -> None:
        """Save the checked documents as one PDF file (when there is no printer, or by choice)."""
        if self.busy or not self.documents:
            return
        docs = self.checked()
        if not docs:
            self._error("保存する帳票にチェックを付けてください。")
            return
        name = f"{self.case.case_no if self.case else 'case'}_帳票.pdf"
        path = self.ask_save_path(str(Path.home() / name))
        if not path:
            return
        try:
            save_pdf(merge_pdfs([d.pdf for d in docs]), Path(path))
        except PrintFailed as exc:
            ids = [d.output_id for d in docs]
            self._record([], ids, exc.message, "")
            self._error(f"{exc.message}\n内容はそのまま残っています。もう一度保存できます。")
            return
        self.banner.hide()
        self._record([d.output_id for d in docs], [], "", f"PDF保存 {Path(path).name}")
        self.status.setText(f"{len(docs)}件の帳票をPDFとして保存しました: {path}")


def attach(view: QWidget) -> OutputPreview:
    """Put the preview into a CaseView as the tab 「出力・印刷」 and keep the versions in step."""
    from madoguchi.gui.case_view import CaseView
    from madoguchi.services.admin import print_settings_for

    assert isinstance(view, CaseView)  # noqa: S101
    db, actor = view.service.db, view.service.actor
    try:
        settings = PrintSettings.from_mapping(print_settings_for(db, actor.terminal))
    except (KnownError, ValueError):
        settings = PrintSettings()  # a broken setting must not block the counter: default printer
    panel = OutputPreview(OutputService(db, actor, today=view.today), view.case.id, print_settings=settings,
                          version=lambda: view.case.version)
    panel.saved.connect(view.adopt)
    view.tabs.addTab(panel, "出力・印刷(&O)")
    return panel
