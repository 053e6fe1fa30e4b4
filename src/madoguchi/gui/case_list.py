"""Open cases of all counters (F15, F17): who holds which case, and 「引き継ぐ」 to resume it here."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView,
                               QVBoxLayout, QWidget)
from sqlalchemy.exc import DBAPIError, OperationalError

from madoguchi.errors import ConnectionFailed, KnownError
from madoguchi.gui.case_view import CaseView
from madoguchi.services.addresses import CityAddressBook, PostalBook
from madoguchi.services.cases import CaseInfo, CaseListener, CaseService, local_time_text
from madoguchi.services.context import Actor
from madoguchi.store.db import Database

CaseIdRole = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("受付番号", "進捗", "用件", "来庁者", "担当（端末）", "最終更新")
MINE_BG = QColor("#e6f4ea")


class CaseListModel(QAbstractTableModel):
    def __init__(self, me_login: str, me_terminal: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cases: list[CaseInfo] = []
        self._me = (me_login, me_terminal)

    def set_cases(self, cases: list[CaseInfo]) -> None:
        self.beginResetModel()
        self._cases = list(cases)
        self.endResetModel()

    def case_at(self, row: int) -> CaseInfo | None:
        return self._cases[row] if 0 <= row < len(self._cases) else None

    def row_of(self, case_id: int) -> int:
        return next((i for i, c in enumerate(self._cases) if c.id == case_id), -1)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(self._cases)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not (0 <= index.row() < len(self._cases)):
            return None
        c = self._cases[index.row()]
        if role == CaseIdRole:
            return c.id
        if role == Qt.ItemDataRole.DisplayRole:
            return (c.case_no, c.status_label, c.purpose, c.visitor.get("name", ""), c.holder_text,
                    local_time_text(c.updated_at))[index.column()]
        if role == Qt.ItemDataRole.BackgroundRole and (c.holder_login, c.holder_terminal or "") == self._me:
            return QBrush(MINE_BG)
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 4:
            return f"{local_time_text(c.held_since)} から担当"
        return None


class CaseList(QWidget):
    """The list; `open_requested(case_id)` asks the main window to open a case workspace."""

    open_requested = Signal(int)
    new_requested = Signal()
    remote_change = Signal(int, int)  # case_id, version (another terminal changed it)

    def __init__(self, service: CaseService, *, listener: CaseListener | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.model = CaseListModel(service.actor.login, service.actor.terminal, self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.doubleClicked.connect(lambda _ix: self.open_selected())
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.new_button = QPushButton("新しい対応(&N)")
        self.open_button = QPushButton("開く(&O)")
        self.take_button = QPushButton("引き継ぐ(&T)")
        self.refresh_button = QPushButton("更新(&R)")
        buttons = QHBoxLayout()
        for b in (self.new_button, self.open_button, self.take_button, self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.message)
        self.new_button.clicked.connect(self.new_requested)
        self.open_button.clicked.connect(self.open_selected)
        self.take_button.clicked.connect(self.take_over_selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.view.selectionModel().currentRowChanged.connect(lambda *_a: self._update_buttons())
        self._listener = listener
        if listener is not None:
            self._poll = QTimer(self)
            self._poll.timeout.connect(self._poll_notifications)
            self._poll.start(1000)
        self.refresh()

    def selected(self) -> CaseInfo | None:
        ix = self.view.currentIndex()
        return self.model.case_at(ix.row()) if ix.isValid() else None

    def refresh(self) -> None:
        current = self.selected()
        try:
            self.model.set_cases(self.service.list_open_cases())
        except (OperationalError, DBAPIError, ConnectionFailed):
            self.message.setText("サーバに接続できません。一覧は前回の内容です。")
            return
        self.message.setText("")
        if current is not None:
            r = self.model.row_of(current.id)
            if r >= 0:
                self.view.selectRow(r)
        self._update_buttons()

    def _update_buttons(self) -> None:
        c = self.selected()
        self.open_button.setEnabled(c is not None)
        self.take_button.setEnabled(c is not None and not c.held_by(self.service.actor))

    def open_selected(self) -> None:
        c = self.selected()
        if c is None:
            return
        if not c.held_by(self.service.actor):
            self.message.setText(f"受付番号 {c.case_no} は {c.holder_text} が担当しています。"
                                 "この端末で続けるには「引き継ぐ」を押してください。")
        self.open_requested.emit(c.id)

    def take_over_selected(self) -> None:
        c = self.selected()
        if c is None:
            return
        try:
            info = self.service.take_over(c.id)
        except (OperationalError, DBAPIError, ConnectionFailed):
            self.message.setText("サーバに接続できません。しばらくしてからもう一度「引き継ぐ」を押してください。")
            return
        except KnownError as exc:
            self.message.setText(exc.message)
            return
        self.refresh()
        self.message.setText(f"受付番号 {info.case_no} を引き継ぎました（前の担当: {c.holder_text}）。")
        self.open_requested.emit(info.id)

    def _poll_notifications(self) -> None:
        if self._listener is None:
            return
        try:
            payloads = self._listener.poll(0)
            if payloads:
                self.refresh()
            for p in payloads:
                if "case_id" in p:
                    self.remote_change.emit(int(p["case_id"]), int(p.get("version", 0)))
        except Exception:  # noqa: BLE001 - a broken LISTEN connection must not break the list
            self.message.setText("他の端末の変更通知を受け取れません。「更新」で最新にしてください。")
            self._poll.stop()


class CaseScreens(QObject):
    """Puts the case list and one workspace per open case into the main window.

    The main window only needs `add_workspace(widget, title)` and `show_workspace(widget)`.
    """

    def __init__(self, window: QObject, db: Database, actor: Actor, *, today: date | None = None,
                 listen: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.today = today
        self.service = CaseService(db, actor)
        self.city = CityAddressBook(db)
        self.postal = PostalBook()
        listener = None
        if listen and db.dialect == "postgresql":
            try:
                listener = CaseListener(db)
            except Exception:  # noqa: BLE001 - without notifications the list still works (「更新」)
                listener = None
        self.case_list = CaseList(self.service, listener=listener)
        self.views: dict[int, CaseView] = {}
        window.add_workspace(self.case_list, "対応一覧")  # type: ignore[attr-defined]
        self.case_list.open_requested.connect(self.open_case)
        self.case_list.new_requested.connect(lambda: self.new_case())
        self.case_list.remote_change.connect(self._remote_change)

    def new_case(self, purpose: str = "", subject_atena_no: str | None = None) -> CaseView:
        info = self.service.open_case(purpose=purpose, subject_atena_no=subject_atena_no)
        self.case_list.refresh()
        return self.open_case(info.id)

    def open_case(self, case_id: int) -> CaseView:
        view = self.views.get(case_id)
        if view is None:
            view = CaseView(self.service, case_id, city=self.city, postal=self.postal, today=self.today)
            self.views[case_id] = view
            self.window.add_workspace(view, f"対応 {view.case.case_no}")  # type: ignore[attr-defined]
            view.saved.connect(lambda _info: self.case_list.refresh())
        else:
            view.reload()
        self.window.show_workspace(view)  # type: ignore[attr-defined]
        # identity checks and unmasking made on the main tabs are recorded on this case
        for name in ("household_view", "identity_view"):
            screen = getattr(self.window, name, None)
            if screen is not None and hasattr(screen, "case_id"):
                screen.case_id = case_id
        return view

    def _remote_change(self, case_id: int, version: int) -> None:
        view = self.views.get(case_id)
        if view is not None:
            view.on_remote_change(version)
