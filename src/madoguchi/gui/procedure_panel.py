"""The procedures of a case (F4, F6, F7, F8, F17): list, questions and guidance in three panes.

- List: per household and member, a check box (checked = to be done), the reasons, the progress
  and the counter. Space toggles (unchecking asks for the reason), Delete removes, Insert adds any
  procedure by hand through a searchable picker, Enter opens the guidance.
- Questions: only those to ask now; answering saves at once and re-lists.
- Guidance: what to explain, what to collect, common mistakes, legal basis, documents, resident text.

Every service call runs on one worker thread (a listing takes ~65–150 ms of CEL evaluation), one at a
time and in order; the screen stays usable and shows 「更新中…」 meanwhile.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Protocol

from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtCore import QEvent, QRect, QSize
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QInputDialog, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPushButton, QScrollArea, QSplitter, QStyledItemDelegate, QStyleOptionViewItem,
                               QTextBrowser, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)
from sqlalchemy.exc import DBAPIError, OperationalError

from madoguchi.domain.kana import fold_kana
from madoguchi.errors import ConnectionFailed, KnownError, StaleWrite
from madoguchi.services.cases import CaseInfo
from madoguchi.services.procedures import (PROGRESS_LABELS, SCOPE_LABELS, CatalogueEntry, ProcedureListing,
                                           ProcedureRow, ProcedureService, QuestionItem, Subject)

COL_NAME, COL_REASON, COL_PROGRESS, COL_COUNTER = range(4)
ROW_ROLE = Qt.ItemDataRole.UserRole
UNANSWERED = "（未回答）"
OFFLINE_TEXT = "サーバに接続できません。接続が戻ってから、もう一度操作してください。"


class Host(Protocol):
    """What the panel needs from the case workspace it lives in (CaseView)."""

    case: CaseInfo

    def flush(self) -> bool: ...


# --- running service calls off the UI thread ---------------------------------------------------

# One worker thread for all panels: calls run in order. (A Python thread, not QRunnable: PySide's
# auto-deleted runnables outlive their Python wrappers badly.)
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="madoguchi-procedures")


class _Bridge(QObject):
    """Lives on the UI thread; the worker emits, Qt queues the call to the UI thread."""

    done = Signal(object, object, float)  # result, exception, seconds


class _WrapDelegate(QStyledItemDelegate):
    """Rows as tall as their wrapped text in the current column width (Qt measures one line)."""

    def __init__(self, tree: QTreeWidget) -> None:
        super().__init__(tree)
        self.tree = tree

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:  # noqa: ANN001, N802 - Qt API
        base = super().sizeHint(option, index)
        text = index.data(Qt.ItemDataRole.DisplayRole)
        if not text or self.tree.isFirstColumnSpanned(index.row(), index.parent()):
            return base
        width = self.tree.header().sectionSize(index.column()) - 12
        if index.column() == COL_NAME:
            depth, parent = 0, index.parent()
            while parent.isValid():
                depth, parent = depth + 1, parent.parent()
            width -= self.tree.indentation() * (depth + 1) + 24  # indentation and the check box
        lines = QFontMetrics(option.font).boundingRect(QRect(0, 0, max(width, 40), 10000),
                                                       int(Qt.TextFlag.TextWordWrap), str(text)).height()
        return QSize(base.width(), max(base.height(), lines + 6))


# --- the picker ----------------------------------------------------------------------------------


class ProcedurePicker(QDialog):
    """Choose any procedure and for whom (個別手続き, F4). Type to filter (kana, kanji, id, 担当課)."""

    def __init__(self, entries: list[CatalogueEntry], subjects: tuple[Subject, ...], *,
                 default_subject: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("手続きを個別に追加")
        self.entries = entries
        self.subjects = subjects
        self.default_subject = default_subject
        self.search = QLineEdit()
        self.search.setPlaceholderText("手続き名・担当課・ID の一部（例: 印鑑、こども課）")
        self.list = QListWidget()
        self.subject = QComboBox()
        self.error = QLabel("")
        self.error.setStyleSheet("color: #8a1c1c")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("追加")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("やめる")
        form = QFormLayout()
        slabel = QLabel("検索(&S)")
        slabel.setBuddy(self.search)
        form.addRow(slabel, self.search)
        tlabel = QLabel("対象(&T)")
        tlabel.setBuddy(self.subject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.addWidget(tlabel)
        row.addWidget(self.subject, 1)
        lay.addLayout(row)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.resize(620, 520)

        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._return_in_search)
        self.list.currentItemChanged.connect(lambda *_: self._subjects_for_current())
        self.list.itemActivated.connect(lambda _i: self.accept())
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.search.installEventFilter(self)
        self._keys = {e.procedure_id: fold_kana(" ".join((e.name, e.department, e.category, e.procedure_id)))
                      for e in entries}
        self._filter("")

    def eventFilter(self, obj: QObject, event) -> bool:  # noqa: ANN001, N802 - Qt API
        # Down/Up in the search box move through the list, so the hands stay on the keys.
        if obj is self.search and event.type() == event.Type.KeyPress and event.key() in (
                Qt.Key.Key_Down, Qt.Key.Key_Up):
            step = 1 if event.key() == Qt.Key.Key_Down else -1
            visible = [i for i in range(self.list.count()) if not self.list.item(i).isHidden()]
            if visible:
                cur = self.list.currentRow()
                pos = visible.index(cur) if cur in visible else -1
                self.list.setCurrentRow(visible[max(0, min(len(visible) - 1, pos + step))])
            return True
        return super().eventFilter(obj, event)

    def _filter(self, text: str) -> None:
        key = fold_kana(text.strip())
        self.list.clear()
        for e in self.entries:
            if key and key not in self._keys[e.procedure_id]:
                continue
            mark = "（個別受付のみ）" if e.manual_only else ""
            item = QListWidgetItem(f"{e.name}{mark}　［{e.department}・{SCOPE_LABELS.get(e.scope, e.scope)}］")
            item.setData(ROW_ROLE, e)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        self._subjects_for_current()

    def current_entry(self) -> CatalogueEntry | None:
        item = self.list.currentItem()
        return item.data(ROW_ROLE) if item is not None else None

    def _subjects_for_current(self) -> None:
        e = self.current_entry()
        previous = self.subject.currentData() or self.default_subject
        self.subject.clear()
        if e is None:
            return
        for s in self.subjects:
            if s.scope == e.scope:
                self.subject.addItem(s.label, s.key)
        i = self.subject.findData(previous)
        if i < 0 and e.scope == "household":
            # the household of the member the clerk is on
            owner = next((s.household_key for s in self.subjects if s.key == previous), None)
            i = self.subject.findData(owner)
        self.subject.setCurrentIndex(max(i, 0))

    def _return_in_search(self) -> None:
        if self.current_entry() is not None:
            self.accept()

    def accept(self) -> None:
        if self.current_entry() is None:
            self.error.setText("追加する手続きを選んでください。")
            return
        if self.subject.currentData() is None:
            self.error.setText("この手続きの対象（世帯・世帯員）がこの異動にいません。")
            return
        super().accept()

    def choice(self) -> tuple[str, str] | None:
        e = self.current_entry()
        if e is None or self.subject.currentData() is None:
            return None
        return e.procedure_id, str(self.subject.currentData())


# --- the panel -----------------------------------------------------------------------------------


class ProcedurePanel(QWidget):
    """Three panes for one case. `saved(CaseInfo)` after every write; `listed(ProcedureListing)` after
    every listing shown; `failed(str)` with the Japanese message of a failed call."""

    saved = Signal(object)
    listed = Signal(object)
    failed = Signal(str)

    def __init__(self, service: ProcedureService, case_id: int, *, host: Host | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.case_id = case_id
        self.host = host
        self.listing: ProcedureListing | None = None
        self.last_seconds = 0.0  # duration of the last service call (shown in the status line)
        # Replaceable prompts (tests and other front ends): procedure name → reason or None.
        self.ask_reason: Callable[[str], str | None] = self._ask_reason_dialog
        self.picker: ProcedurePicker | None = None
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._finished, Qt.ConnectionType.QueuedConnection)
        self._queue: list[tuple[str, Callable[[int], ProcedureListing] | None]] = []
        self._running: Future | None = None
        self._running_kind = ""
        self._question_widgets: dict[tuple[str, str], QWidget] = {}
        self._question_keys: list[tuple[str, str]] = []

        # --- top: actions, status, banner
        self.add_button = QPushButton("手続きを追加(&A)")
        self.remove_button = QPushButton("外す(&D)")
        self.restore_button = QPushButton("戻す(&R)")
        self.progress_combo = QComboBox()
        for code, label in PROGRESS_LABELS.items():
            self.progress_combo.addItem(label, code)
        plabel = QLabel("進捗(&P)")
        plabel.setBuddy(self.progress_combo)
        self.status = QLabel("")
        self.status.setObjectName("procedure_status")
        bar = QHBoxLayout()
        bar.addWidget(self.add_button)
        bar.addWidget(self.remove_button)
        bar.addWidget(self.restore_button)
        bar.addWidget(plabel)
        bar.addWidget(self.progress_combo)
        bar.addWidget(self.status, 1)
        self.banner = QLabel("")
        self.banner.setObjectName("procedure_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fde2e1; color: #8a1c1c; padding: 6px; border: 1px solid #e0a0a0")
        self.banner.hide()

        # --- pane 1: the list
        self.tree = QTreeWidget()
        self.tree.setObjectName("procedure_list")
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["手続き", "理由", "進捗", "窓口"])
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_REASON, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_PROGRESS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_COUNTER, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.tree.setItemDelegate(_WrapDelegate(self.tree))
        self.tree.setColumnWidth(COL_NAME, 230)
        self.tree.setColumnWidth(COL_COUNTER, 170)
        # wrapped rows must be measured again when a column changes width
        self._relayout = QTimer(self)
        self._relayout.setSingleShot(True)
        self._relayout.setInterval(0)
        self._relayout.timeout.connect(self.tree.doItemsLayout)
        header.sectionResized.connect(lambda *_: self._relayout.start())
        list_box = QGroupBox("手続き一覧（Space: 要/不要　Delete: 外す　Insert: 追加　Enter: 案内）")
        QVBoxLayout(list_box).addWidget(self.tree)

        # --- pane 2: the questions
        self.questions_box = QGroupBox("確認事項（回答するとすぐに一覧が変わります）")
        qlay = QVBoxLayout(self.questions_box)
        self.questions_area = QScrollArea()
        self.questions_area.setWidgetResizable(True)
        self.questions_inner = QWidget()
        self.questions_layout = QVBoxLayout(self.questions_inner)
        self.questions_layout.setContentsMargins(4, 4, 4, 4)
        self.questions_area.setWidget(self.questions_inner)
        self.questions_area.viewport().installEventFilter(self)
        self._fit = QTimer(self)
        self._fit.setSingleShot(True)
        self._fit.setInterval(0)
        self._fit.timeout.connect(self._fit_labels)
        qlay.addWidget(self.questions_area)

        # --- pane 3: guidance
        self.guidance_box = QGroupBox("案内")
        glay = QVBoxLayout(self.guidance_box)
        self.guidance = QTextBrowser()
        self.guidance.setObjectName("procedure_guidance")
        self.guidance.setOpenLinks(False)
        glay.addWidget(self.guidance)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.questions_box)
        right.addWidget(self.guidance_box)
        right.setSizes([380, 320])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(list_box)
        self.splitter.addWidget(right)
        self.splitter.setSizes([660, 400])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.banner)
        lay.addWidget(self.splitter, 1)

        # --- wiring
        self.tree.itemChanged.connect(self._item_changed)
        self.tree.currentItemChanged.connect(lambda cur, _prev: self._current_changed(cur))
        self.tree.itemActivated.connect(lambda _i, _c: self.open_guidance())
        self.add_button.clicked.connect(self.open_picker)
        self.remove_button.clicked.connect(self.remove_current)
        self.restore_button.clicked.connect(self.restore_current)
        self.progress_combo.activated.connect(lambda _i: self.set_progress(self.progress_combo.currentData()))
        for key, slot in ((Qt.Key.Key_Delete, self.remove_current), (Qt.Key.Key_Insert, self.open_picker)):
            sc = QShortcut(QKeySequence(key), self.tree)
            sc.setContext(Qt.ShortcutContext.WidgetShortcut)
            sc.activated.connect(slot)
        for seq, target in (("Alt+1", self.tree), ("Alt+2", self.questions_area), ("Alt+3", self.guidance)):
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda t=target: self._focus_pane(t))
        self._update_actions()
        self._stale = True  # listed when first shown (the tab may never be opened)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.questions_area.viewport() and event.type() == QEvent.Type.Resize:
            self._fit.start()
        return super().eventFilter(obj, event)

    def _fit_labels(self) -> None:
        # Wrapped labels inside a scroll area get one line's height; give them what their width needs.
        self.questions_layout.activate()
        for label in self.questions_inner.findChildren(QLabel):
            if label.wordWrap() and label.width() > 0:
                label.setMinimumHeight(label.heightForWidth(label.width()))

    # --- running calls ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def refresh(self) -> None:
        """Re-list (after the move changed, or on opening); while hidden, only note it for later."""
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        if any(kind == "listing" for kind, _ in self._queue):
            return
        self._enqueue("listing", None)

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt API
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def _write(self, what: str, call: Callable[[int], ProcedureListing]) -> None:
        self._enqueue(what, call)

    def _enqueue(self, what: str, call: Callable[[int], ProcedureListing] | None) -> None:
        self._queue.append((what, call))
        self._next()

    def _next(self) -> None:
        if self._running is not None or not self._queue:
            return
        what, call = self._queue.pop(0)
        if call is None:
            fn: Callable[[], object] = lambda: self.service.listing(self.case_id, save=False)  # noqa: E731
        else:
            # Pending edits of the workspace first, so the listing sees the latest move; the version
            # is read here, on the UI thread, after the previous call has finished.
            if self.host is not None and not self.host.flush():
                self._show_banner("異動などの未保存の入力があるため、手続きの変更を保存できませんでした。"
                                  "上の表示を確認してから、もう一度操作してください。")
                self._queue.clear()
                self._relist_later()
                return
            version = self._version()
            fn = lambda: call(version)  # noqa: E731
        bridge = self._bridge

        def run() -> None:
            start = time.perf_counter()
            try:
                result, error = fn(), None
            except Exception as exc:  # noqa: BLE001 - handed to the UI thread, which decides
                result, error = None, exc
            try:
                bridge.done.emit(result, error, time.perf_counter() - start)
            except RuntimeError:
                pass  # the panel was closed meanwhile: nobody to tell
        self.status.setText("更新中…")
        self._running_kind = what
        self._running = _EXECUTOR.submit(run)

    def _relist_later(self) -> None:
        self._queue.append(("listing", None))
        self._next()

    def _version(self) -> int:
        if self.host is not None:
            return self.host.case.version
        return self.listing.case.version if self.listing else 0

    def _finished(self, result: object, error: object, seconds: float) -> None:
        self._running = None
        self.last_seconds = seconds
        if error is None and isinstance(result, ProcedureListing) and result.pending:
            # Store here, on the UI thread, so no other write of this workspace slips in between.
            try:
                result = self.service.save_listing(self.case_id, result)
            except StaleWrite:
                result = None  # the case changed meanwhile (our own move save): list again
                self._queue.insert(0, ("listing", None))
            except (OperationalError, DBAPIError, ConnectionFailed, KnownError) as exc:
                result, error = None, exc
        if error is None and result is None:
            pass
        elif error is None and isinstance(result, ProcedureListing):
            if self._running_kind != "listing":
                self._hide_banner()  # a listing after a refusal keeps the explanation up
            self._show(result)
            if result.saved:
                self.saved.emit(result.case)
        else:
            self._queue.clear()  # later edits were based on what failed: show the truth first
            if isinstance(error, StaleWrite):
                self._show_banner(error.message + "\n一覧を最新の内容に更新しました。必要ならもう一度操作してください。")
                self._queue.append(("listing", None))
            elif isinstance(error, (OperationalError, DBAPIError, ConnectionFailed)):
                self._show_banner(OFFLINE_TEXT)
            elif isinstance(error, KnownError):
                self._show_banner(error.message)
                if self.listing is not None:
                    self._show(self.listing)  # undo what the widgets already show
            else:
                self.status.setText("")
                QTimer.singleShot(0, self._next)  # the queue goes on
                raise error  # type: ignore[misc] - a defect: the crash handler reports it
            self.failed.emit(self.banner.text())
        self.status.setText(f"更新済み（{self.last_seconds * 1000:.0f} ms）" if not self._queue else "更新中…")
        self._next()

    # --- showing ---------------------------------------------------------------------------------

    def _show(self, listing: ProcedureListing) -> None:
        current = self.current_row()
        self.listing = listing
        self._fill_tree(listing, current.key if current else None)
        self._fill_questions(listing)
        self._update_actions()
        row = self.current_row()
        if row is not None:
            self.show_guidance(row.procedure_id)
        self.listed.emit(listing)

    def _fill_tree(self, listing: ProcedureListing, keep: tuple[str, str] | None) -> None:
        with QSignalBlocker(self.tree):
            self.tree.clear()
            if listing.message:
                item = QTreeWidgetItem([listing.message])
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.tree.addTopLevelItem(item)
                item.setFirstColumnSpanned(True)
                return
            households: dict[str, QTreeWidgetItem] = {}
            select_item = None
            for g in listing.groups:
                top = households.get(g.household_key)
                if top is None:
                    top = QTreeWidgetItem([g.household_title])
                    top.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                    f = top.font(0)
                    f.setBold(True)
                    top.setFont(0, f)
                    self.tree.addTopLevelItem(top)
                    top.setFirstColumnSpanned(True)  # only works once the item is in the tree
                    households[g.household_key] = top
                parent = top
                if g.member_key is not None:
                    parent = QTreeWidgetItem(top, [f"{g.title} さん"])
                    parent.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                    parent.setFirstColumnSpanned(True)
                for r in g.rows:
                    item = self._row_item(parent, r)
                    if r.key == keep:
                        select_item = item
            self.tree.expandAll()
            target = select_item or self._first_row_item()
            if target is not None:
                self.tree.setCurrentItem(target)

    def _row_item(self, parent: QTreeWidgetItem, r: ProcedureRow) -> QTreeWidgetItem:
        mark = "" if r.source == "auto" else "［個別］"
        item = QTreeWidgetItem(parent, [f"{r.name}{mark}", r.reason_text, r.progress_label, r.counter])
        item.setData(COL_NAME, ROW_ROLE, r)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(COL_NAME, Qt.CheckState.Checked if r.selected else Qt.CheckState.Unchecked)
        item.setToolTip(COL_REASON, r.reason_text)
        item.setToolTip(COL_COUNTER, f"{r.department}　{r.counter}")
        if not r.selected:
            for c in range(4):
                item.setForeground(c, Qt.GlobalColor.gray)
            f = item.font(COL_NAME)
            f.setStrikeOut(True)
            item.setFont(COL_NAME, f)
        return item

    def _first_row_item(self) -> QTreeWidgetItem | None:
        it = self._row_items()
        return it[0] if it else None

    def _row_items(self) -> list[QTreeWidgetItem]:
        out = []

        def walk(item: QTreeWidgetItem) -> None:
            if item.data(COL_NAME, ROW_ROLE) is not None:
                out.append(item)
            for i in range(item.childCount()):
                walk(item.child(i))
        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def item_for(self, procedure_id: str, subject: str) -> QTreeWidgetItem | None:
        return next((i for i in self._row_items() if i.data(COL_NAME, ROW_ROLE).key == (procedure_id, subject)), None)

    def current_row(self) -> ProcedureRow | None:
        item = self.tree.currentItem()
        return item.data(COL_NAME, ROW_ROLE) if item is not None else None

    def _current_changed(self, item: QTreeWidgetItem | None) -> None:
        self._update_actions()
        row = item.data(COL_NAME, ROW_ROLE) if item is not None else None
        if row is not None:
            self.show_guidance(row.procedure_id)

    def _update_actions(self) -> None:
        row = self.current_row()
        has_move = self.listing is not None and not self.listing.message
        self.add_button.setEnabled(has_move)
        self.remove_button.setEnabled(row is not None and row.selected)
        self.restore_button.setEnabled(row is not None and not row.selected)
        self.progress_combo.setEnabled(row is not None and row.selected)
        if row is not None:
            with QSignalBlocker(self.progress_combo):
                self.progress_combo.setCurrentIndex(self.progress_combo.findData(row.progress))

    # --- questions -------------------------------------------------------------------------------

    def _fill_questions(self, listing: ProcedureListing) -> None:
        keys = [(q.question_id, q.subject) for q in listing.questions]
        if keys == self._question_keys:
            for q in listing.questions:  # same questions: only the values (keeps focus and Tab order)
                self._set_widget_value(self._question_widgets[(q.question_id, q.subject)], q)
            return
        focused = next((k for k, w in self._question_widgets.items() if w.hasFocus()), None)
        while self.questions_layout.count():
            child = self.questions_layout.takeAt(0)
            if child.widget() is not None:
                child.widget().deleteLater()
        self._question_widgets.clear()
        self._question_keys = keys
        by_subject: dict[str, list[QuestionItem]] = {}
        for q in listing.questions:
            by_subject.setdefault(q.subject, []).append(q)
        titles = {s.key: s.label for s in listing.subjects}
        for subject, qs in by_subject.items():
            box = QGroupBox(titles.get(subject, subject))
            form = QVBoxLayout(box)
            form.setSpacing(2)
            for q in qs:
                w = self._question_widget(q)
                label = QLabel(q.text)
                label.setWordWrap(True)
                label.setBuddy(w)
                tip = q.help + ("\n" if q.help else "") + ("関係する手続き: " + "、".join(q.decides) if q.decides else "")
                label.setToolTip(tip)
                w.setToolTip(tip)
                form.addWidget(label)
                form.addWidget(w)
                if q.help:
                    hint = QLabel(q.help)
                    hint.setWordWrap(True)
                    hint.setStyleSheet("color: #555")
                    form.addWidget(hint)
                form.addSpacing(6)
                self._question_widgets[(q.question_id, q.subject)] = w
            self.questions_layout.addWidget(box)
            box.show()  # now, not on the next event loop turn: a Tab pressed at once must find it
        if not listing.questions:
            none = QLabel("いま確認する事項はありません。" if not listing.message else "")
            self.questions_layout.addWidget(none)
        self.questions_layout.addStretch(1)
        self._fit_labels()
        self._fit.start()  # again once the scroll area has settled
        self._tab_order()
        if focused is not None:
            # answering may show new questions: stay on the one just answered (or its successor)
            target = self._question_widgets.get(focused)
            if target is None and keys:
                target = self._question_widgets[keys[0]]
            if target is not None:
                target.setFocus()

    def _question_widget(self, q: QuestionItem) -> QWidget:
        key = (q.question_id, q.subject)
        if q.kind in ("yes_no", "choice"):
            w = QComboBox()
            w.addItem(UNANSWERED, None)
            if q.kind == "yes_no":
                w.addItem("はい", True)
                w.addItem("いいえ", False)
            else:
                for c in q.choices:
                    w.addItem(c, c)
            w.setObjectName(f"q_{q.question_id}_{q.subject}")
            self._set_widget_value(w, q)
            w.activated.connect(lambda _i, w=w, key=key: self.answer(key[0], key[1], w.currentData()))
            return w
        e = QLineEdit()
        e.setObjectName(f"q_{q.question_id}_{q.subject}")
        e.setPlaceholderText({"date": "例: R8.11.25、2026-11-25", "number": "数字"}.get(q.kind, ""))
        self._set_widget_value(e, q)
        e.editingFinished.connect(lambda e=e, key=key: self._line_answered(key, e))
        return e

    def _line_answered(self, key: tuple[str, str], e: QLineEdit) -> None:
        if not e.isModified():
            return
        e.setModified(False)
        self.answer(key[0], key[1], e.text())

    def _set_widget_value(self, w: QWidget, q: QuestionItem) -> None:
        with QSignalBlocker(w):
            if isinstance(w, QComboBox):
                w.setCurrentIndex(max(0, w.findData(q.answer)) if q.answer is not None else 0)
            elif isinstance(w, QLineEdit) and not w.isModified():
                w.setText("" if q.answer is None else (q.answer_text if q.kind == "date" else str(q.answer)))

    def question_widget(self, question_id: str, subject: str) -> QWidget | None:
        return self._question_widgets.get((question_id, subject))

    def _tab_order(self) -> None:
        chain: list[QWidget] = [self.tree, *self._question_widgets.values(), self.guidance, self.add_button,
                                self.remove_button, self.restore_button, self.progress_combo]
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)

    def _focus_pane(self, target: QWidget) -> None:
        if target is self.questions_area and self._question_widgets:
            next(iter(self._question_widgets.values())).setFocus()
        else:
            target.setFocus()

    # --- guidance --------------------------------------------------------------------------------

    def show_guidance(self, procedure_id: str) -> None:
        try:
            g = self.service.guidance(procedure_id)
        except KnownError as exc:
            self.guidance.setHtml(f"<p>{html.escape(exc.message)}</p>")
            return

        def items(title: str, lines: tuple[str, ...]) -> str:
            if not lines:
                return ""
            li = "".join(f"<li>{html.escape(x)}</li>" for x in lines)
            return f"<h4>{title}</h4><ul>{li}</ul>"
        parts = [f"<h3>{html.escape(g.name)}</h3>",
                 f"<p><b>{html.escape(g.department)}</b>　{html.escape(g.counter)}</p>",
                 items("職員向け説明", g.explain), items("お持ちいただくもの", g.documents),
                 items("回収・確認するもの", g.collect), items("よくある誤り", g.mistakes),
                 f"<h4>住民向けの説明</h4><p>{html.escape(g.resident_text)}</p>" if g.resident_text else "",
                 f"<h4>期限</h4><p>{html.escape(g.deadline)}</p>" if g.deadline else "",
                 items("根拠法令", g.legal_basis)]
        self.guidance.setHtml("".join(parts))
        self.guidance_box.setTitle(f"案内: {g.name}")

    def open_guidance(self) -> None:
        """Enter on a procedure: show its guidance and move there (Alt+1 goes back to the list)."""
        row = self.current_row()
        if row is None:
            return
        self.show_guidance(row.procedure_id)
        self.guidance.setFocus()

    # --- actions ---------------------------------------------------------------------------------

    def answer(self, question_id: str, subject: str, value: object) -> None:
        case_id = self.case_id
        self._write("answer", lambda v: self.service.answer(case_id, v, question_id, subject, value))

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        row: ProcedureRow | None = item.data(COL_NAME, ROW_ROLE)
        if row is None or column != COL_NAME:
            return
        checked = item.checkState(COL_NAME) == Qt.CheckState.Checked
        if checked == row.selected:
            return
        self.tree.setCurrentItem(item)
        if checked:
            self.restore_current()
        else:
            self.remove_current()

    def remove_current(self) -> None:
        row = self.current_row()
        if row is None or not row.selected:
            return
        reason = self.ask_reason(row.name)
        if reason is None or not reason.strip():
            self._reset_check(row)
            if reason is not None:
                self._show_banner("外す理由を入力してください。理由がないと手続きは外せません。")
            return
        case_id = self.case_id
        self._write("remove", lambda v: self.service.remove(case_id, v, row.procedure_id, row.subject, reason))

    def restore_current(self) -> None:
        row = self.current_row()
        if row is None or row.selected:
            return
        case_id = self.case_id
        self._write("restore", lambda v: self.service.restore(case_id, v, row.procedure_id, row.subject))

    def set_progress(self, progress: str) -> None:
        row = self.current_row()
        if row is None or not row.selected or progress == row.progress:
            return
        case_id = self.case_id
        self._write("progress", lambda v: self.service.set_progress(case_id, v, row.procedure_id, row.subject,
                                                                     progress))

    def open_picker(self) -> None:
        if self.listing is None or self.listing.message:
            return
        row = self.current_row()
        item = self.tree.currentItem()
        default = row.subject if row else None
        if default is None and item is not None:
            default = self._subject_of_header(item)
        self.picker = ProcedurePicker(self.service.all_procedures(), self.listing.subjects,
                                      default_subject=default, parent=self)
        try:
            if not self.picker.exec():
                return
            choice = self.picker.choice()
        finally:
            self.picker.deleteLater()
            self.picker = None
        if choice is None:
            return
        pid, subject = choice
        case_id = self.case_id
        self._write("add", lambda v: self.service.add_manual(case_id, v, pid, subject))

    def _subject_of_header(self, item: QTreeWidgetItem) -> str | None:
        if self.listing is None:
            return None
        text = item.text(COL_NAME)
        for g in self.listing.groups:
            if text in (g.household_title, f"{g.title} さん"):
                return g.member_key or g.household_key
        return None

    def _reset_check(self, row: ProcedureRow) -> None:
        item = self.item_for(row.procedure_id, row.subject)
        if item is not None:
            with QSignalBlocker(self.tree):
                item.setCheckState(COL_NAME, Qt.CheckState.Checked if row.selected else Qt.CheckState.Unchecked)

    def _ask_reason_dialog(self, name: str) -> str | None:
        text, ok = QInputDialog.getText(self, "手続きを外す", f"「{name}」を外す理由を入力してください"
                                                            "（例: 本人が手続き済み、対象外と確認）:")
        return text if ok else None

    def _show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.show()

    def _hide_banner(self) -> None:
        self.banner.hide()
        self.banner.setText("")

    def wait_idle(self, timeout_ms: int = 10000) -> bool:
        """For callers that must not go on while a call runs (closing the case)."""
        running = self._running
        if running is None:
            return True
        return not wait_futures([running], timeout=timeout_ms / 1000).not_done


def attach(view: QWidget) -> ProcedurePanel:
    """Put the panel into a CaseView as the tab 「手続き」 and keep the two in step.

    The panel writes with the workspace's current version and hands the new version back; any
    other change of the case (a move saved, a reload) re-lists the procedures.
    """
    from madoguchi.gui.case_view import CaseView

    assert isinstance(view, CaseView)  # noqa: S101
    panel = ProcedurePanel(ProcedureService(view.service.db, view.service.actor), view.case.id, host=view)

    def adopt(info: CaseInfo) -> None:
        if info.version > view.case.version:
            view.case = info
            view._show_case()  # noqa: SLF001 - the workspace's own header refresh
            view._refresh_lists()  # noqa: SLF001

    def changed(info: CaseInfo) -> None:
        # any newer version than the one listed (move saved, reload, another terminal): list again
        if panel.listing is None or info.version != panel.listing.case.version:
            panel.refresh()

    panel.saved.connect(adopt)
    view.case_changed.connect(changed)
    view.tabs.addTab(panel, "手続き(&J)")
    return panel
